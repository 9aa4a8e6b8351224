// Command natssecrets makes the NATS passwords of the compose stack (make
// secrets, make up and deploy/test-compose.sh run it): a password file per
// user (nats-presence, nats-gw-1, …) that docker-compose.yml hands to the
// service logging in with it, and passwords.conf, their bcrypt hashes, that
// the NATS server's config includes. Passwords already there are kept.
// With -dev-auth, also a JWT secret and a self-signed certificate for the
// gateways' --auth jwt and TLS (docker-compose.yml).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/alo-presence/alo/internal/natssecrets"
)

func main() {
	dir := flag.String("dir", "deploy/.secrets", "`directory` to write the secrets into")
	gateways := flag.Int("gateways", natssecrets.Gateways, "how many gateway users (gw-1 … gw-N) deploy/nats.conf holds")
	cost := flag.Int("cost", 0, "bcrypt cost (default: bcrypt's)")
	devAuth := flag.Bool("dev-auth", false, "also a JWT secret and a self-signed TLS certificate for the gateways (docker-compose.yml)")
	flag.Parse()
	err := natssecrets.Generate(*dir, natssecrets.Users(*gateways), *cost)
	if err == nil && *devAuth {
		err = natssecrets.GenerateDevAuth(*dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
