package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/alo-presence/alo/auth"
	"github.com/alo-presence/alo/internal/cli"
)

const tokenSummary = `alo token: print a JWT for trying --auth jwt, signed with the dev secret

The dev secret is the file --jwt-secret-file names, or else
~/.config/alo/alo-dev-secret (created on first use), the same file that
alo --auth jwt reads, so a token printed here is accepted there:

  alo token --user 1 --friends 2,3`

// tokenMain runs `alo token`: it mints a token and prints it alone on out,
// so that TOKEN=$(alo token --user 1) works.
func tokenMain(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("alo token", flag.ContinueOnError)
	fs.SetOutput(errOut)
	user := fs.Int64("user", 0, "the user `id` the token is for (its sub); required")
	friends := fs.String("friends", "", "comma-separated user `ids` for the friends claim (absent: no claim)")
	ttl := fs.Duration("ttl", auth.DefaultMintTTL, "how long the token is valid")
	secretFile := fs.String("jwt-secret-file", "", "`file` holding the HS256 secret (default: the dev secret, created on first use)")
	issuer := fs.String("jwt-issuer", "", "iss claim, if the server checks one")
	audience := fs.String("jwt-audience", "", "aud claim, if the server checks one")
	err := cli.Parse(fs, args, tokenSummary)
	if err == nil {
		err = mintToken(out, *secretFile, auth.MintOptions{
			UserID: *user, TTL: *ttl, Issuer: *issuer, Audience: *audience,
		}, *friends, flagGiven(fs, "friends"))
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(errOut, "alo token: %v\n", err)
		return 2
	}
	return 0
}

func mintToken(out io.Writer, secretFile string, o auth.MintOptions, friends string, friendsGiven bool) error {
	if o.UserID <= 0 {
		return errors.New("--user: a positive user id is required")
	}
	if friendsGiven {
		o.Friends = []int64{} // given but empty: an empty claim
		for _, s := range strings.Split(friends, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("--friends: %q is not a positive user id", s)
			}
			o.Friends = append(o.Friends, id)
		}
	}
	if o.TTL <= 0 || o.TTL > 365*24*time.Hour {
		return fmt.Errorf("--ttl: %v is not between 0 and a year", o.TTL)
	}
	path, err := auth.DevSecretFile(secretFile)
	if err != nil {
		return err
	}
	secret, err := auth.ReadSecretFile(path)
	if err != nil {
		return err
	}
	tok, err := auth.Mint(secret, o)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}

// flagGiven reports whether a flag was given on the command line or in the
// environment (cli.Parse sets it from there).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
