package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/gobwas/ws"

	"github.com/alo-presence/alo/auth"
	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

const (
	testIssuer   = "https://id.alo.test"
	testAudience = "alo"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef-gateway-test")
	otherSecret = []byte("another-secret-of-32-bytes-or-more-for-tests!")
	testRSA     = mustRSA()
	jwksA       = mustEC()
	jwksB       = mustEC()
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// claims of a test token; zero fields get valid values.
type claims struct {
	sub      string
	exp, nbf time.Time
	iss, aud string
	friends  []int64
	noIss    bool
}

func (c claims) json() []byte {
	m := map[string]any{"sub": c.sub, "iss": c.iss, "aud": c.aud}
	if c.exp.IsZero() {
		c.exp = time.Now().Add(time.Hour)
	}
	m["exp"] = c.exp.Unix()
	if !c.nbf.IsZero() {
		m["nbf"] = c.nbf.Unix()
	}
	if c.iss == "" && !c.noIss {
		m["iss"] = testIssuer
	}
	if c.aud == "" {
		m["aud"] = testAudience
	}
	if c.friends != nil {
		m["friends"] = c.friends
	}
	b, _ := json.Marshal(m)
	return b
}

func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(c.json())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// token is a valid HS256 token for user with the given friends claim (nil:
// none).
func token(t testing.TB, user int64, friends ...int64) string {
	c := claims{sub: strconv.FormatInt(user, 10)}
	if friends != nil {
		c.friends = friends
	}
	return sign(t, jose.HS256, testSecret, "", c)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// authKeys writes the verifier's key files: the HS256 secret, an RSA public
// key, and a JWKS holding jwksA (kid "a").
type authKeys struct {
	secret, rsaPEM, jwks string
}

func writeKeys(t *testing.T) authKeys {
	t.Helper()
	dir := t.TempDir()
	k := authKeys{secret: filepath.Join(dir, "secret"), rsaPEM: filepath.Join(dir, "rsa.pem"), jwks: filepath.Join(dir, "jwks.json")}
	write(t, k.secret, append(testSecret, '\n'))
	der, err := x509.MarshalPKIXPublicKey(&testRSA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, k.rsaPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	writeJWKS(t, k.jwks, map[string]*ecdsa.PrivateKey{"a": jwksA})
	return k
}

func writeJWKS(t *testing.T, path string, keys map[string]*ecdsa.PrivateKey) {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, b)
}

// write replaces a file atomically, as a careful rotation does.
func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// authSystem runs NATS, presence with policy, and a gateway with --auth jwt
// (every key kind, issuer and audience checked, keys re-read every 20ms)
// and the given friend source.
func authSystem(t *testing.T, friends gateway.FriendsMode, policy presence.Policy) (alotest.Addrs, authKeys) {
	t.Helper()
	keys := writeKeys(t)
	v, err := auth.NewVerifier(auth.Config{
		SecretFile: keys.secret, PublicKeyFiles: []string{keys.rsaPEM}, JWKSFile: keys.jwks,
		Issuer: testIssuer, Audience: testAudience, Leeway: time.Second, ReloadInterval: 20 * time.Millisecond,
	}, cli.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = v.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{Policy: policy})
	cfg := gateway.Config{Auth: v, Friends: friends}
	_, a, _ := alotest.GatewayAll(t, ns, cfg, gateway.WSConfig{}, gateway.UDPConfig{})
	return a, keys
}

// helloT spells a hello with a token, and user_id and friends when given.
func helloT(tok string, user int64, friends ...int64) string {
	s := fmt.Sprintf(`{"token": %q`, tok)
	if user != 0 {
		s += fmt.Sprintf(`, "user_id": %d`, user)
	}
	if friends != nil {
		ids := make([]string, len(friends))
		for i, f := range friends {
			ids[i] = strconv.FormatInt(f, 10)
		}
		s += `, "friends": [` + strings.Join(ids, ",") + `]`
	}
	return s + "}"
}

// authClient is what the token cases need of a client, on TCP or WS.
type authClient interface {
	Send(line string)
	AwaitReady() []int64
	ExpectState(user int64, online bool)
	ExpectError(code string) alotest.Msg
	ExpectClosed()
	ExpectQuiet(time.Duration)
}

type transport struct {
	name string
	dial func(t *testing.T, a alotest.Addrs) authClient
	// closed checks a refusal's close beyond the connection's end: the
	// WebSocket close code.
	closed func(t *testing.T, c authClient)
}

var transports = []transport{
	{"tcp", func(t *testing.T, a alotest.Addrs) authClient { return alotest.Dial(t, a.TCP) }, func(*testing.T, authClient) {}},
	{"ws", func(t *testing.T, a alotest.Addrs) authClient { return alotest.DialWS(t, a.WS) }, func(t *testing.T, c authClient) {
		if code := c.(*alotest.WSClient).CloseCode(); code != ws.StatusPolicyViolation {
			t.Errorf("close code %d, want %d", code, ws.StatusPolicyViolation)
		}
	}},
}

// connectT opens a session with a token and waits for ready.
func connectT(t *testing.T, tr transport, a alotest.Addrs, hello string) (authClient, []int64) {
	t.Helper()
	c := tr.dial(t, a)
	c.Send(hello)
	return c, c.AwaitReady()
}

// Every token case, end to end over TCP and WebSocket: the right code, a
// message, a close, and the watcher of the claimed user hears nothing.
func TestTokenCases(t *testing.T) {
	a, _ := authSystem(t, gateway.FriendsClient, presence.PolicyWatchers)
	hour := time.Hour
	none := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(claims{sub: "1"}.json()) + "."
	rsaPEM, _ := x509.MarshalPKIXPublicKey(&testRSA.PublicKey)
	confused := sign(t, jose.HS256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPEM}), "", claims{sub: "1"})
	cases := []struct {
		name  string
		hello string
		code  string
	}{
		{"no token", `{"user_id": 1, "friends": [2]}`, shared.CodeUnauthorized},
		{"expired", helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "1", exp: time.Now().Add(-hour)}), 0), shared.CodeTokenExpired},
		{"not yet valid", helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "1", nbf: time.Now().Add(hour)}), 0), shared.CodeUnauthorized},
		{"wrong key", helloT(sign(t, jose.HS256, otherSecret, "", claims{sub: "1"}), 0), shared.CodeUnauthorized},
		{"unknown rsa key", helloT(sign(t, jose.RS256, mustRSA(), "", claims{sub: "1"}), 0), shared.CodeUnauthorized},
		{"alg none", helloT(none, 0), shared.CodeUnauthorized},
		{"hs256 with the rsa public key as secret", helloT(confused, 0), shared.CodeUnauthorized},
		{"wrong issuer", helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "1", iss: "https://evil.test"}), 0), shared.CodeUnauthorized},
		{"no issuer", helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "1", noIss: true}), 0), shared.CodeUnauthorized},
		{"wrong audience", helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "1", aud: "other"}), 0), shared.CodeUnauthorized},
		{"sub not a user id", helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "alice"}), 0), shared.CodeUnauthorized},
		{"sub mismatch", helloT(token(t, 3), 1), shared.CodeUnauthorized},
		{"garbage", helloT("abc.def.ghi", 0), shared.CodeUnauthorized},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			watcher, _ := connectT(t, tr, a, helloT(token(t, 2), 0, 1, 3))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := tr.dial(t, a)
					c.Send(tc.hello)
					m := c.ExpectError(tc.code)
					for _, part := range strings.Split(tc.hello, ".") {
						if len(part) > 16 && strings.Contains(m.Message, part) {
							t.Errorf("the message %q repeats the token", m.Message)
						}
					}
					c.ExpectClosed()
					tr.closed(t, c)
				})
			}
			// None of them was anyone: the next thing the watcher hears
			// is the barrier, 3.
			b, _ := connectT(t, tr, a, helloT(token(t, 3), 0))
			watcher.ExpectState(3, true)
			b.Send(`{"online": false}`)
			b.ExpectClosed()
			watcher.ExpectState(3, false)
			// The valid ones, each key kind, with and without user_id.
			for _, hello := range []string{
				helloT(token(t, 1), 0),
				helloT(token(t, 1), 1),
				helloT(sign(t, jose.RS256, testRSA, "", claims{sub: "1"}), 0),
				helloT(sign(t, jose.ES256, jwksA, "a", claims{sub: "1"}), 0),
			} {
				c, _ := connectT(t, tr, a, hello)
				watcher.ExpectState(1, true)
				c.Send(`{"online": false}`)
				c.ExpectClosed()
				watcher.ExpectState(1, false)
			}
		})
	}
}

// A key added to the JWKS while the gateway runs is used at once, and a
// key removed is refused from then on.
func TestJWKSRotation(t *testing.T) {
	a, keys := authSystem(t, gateway.FriendsClient, presence.PolicyWatchers)
	tr := transports[0]
	tokB := helloT(sign(t, jose.ES256, jwksB, "b", claims{sub: "1"}), 0)
	tokA := helloT(sign(t, jose.ES256, jwksA, "a", claims{sub: "1"}), 0)
	try := func(hello string) string {
		c := tr.dial(t, a)
		c.Send(hello)
		m := c.(*alotest.Client).Next()
		c.(*alotest.Client).Close()
		if m.Ready {
			return "ready"
		}
		return m.Error
	}
	if got := try(tokB); got != shared.CodeUnauthorized {
		t.Fatalf("kid b before rotation: %s, want unauthorized", got)
	}
	writeJWKS(t, keys.jwks, map[string]*ecdsa.PrivateKey{"a": jwksA, "b": jwksB})
	alotest.WaitFor(t, alotest.Timeout, "kid b accepted", func() bool { return try(tokB) == "ready" })
	if got := try(tokA); got != "ready" {
		t.Fatalf("kid a during rotation: %s", got)
	}
	writeJWKS(t, keys.jwks, map[string]*ecdsa.PrivateKey{"b": jwksB})
	alotest.WaitFor(t, alotest.Timeout, "kid a refused", func() bool { return try(tokA) == shared.CodeUnauthorized })
}

// With --auth jwt nobody can be someone else: not with a hello for them,
// not with their user_id beside one's own token, not later in the session;
// so they cannot make them look online, nor receive what is theirs.
func TestNoSpoofingWithJWT(t *testing.T) {
	a, _ := authSystem(t, gateway.FriendsClient, presence.PolicyWatchers)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			watcher, _ := connectT(t, tr, a, helloT(token(t, 2), 0, 1, 3))
			for _, hello := range []string{
				`{"user_id": 1, "friends": [2]}`,
				helloT(token(t, 3), 1, 2),
			} {
				c := tr.dial(t, a)
				c.Send(hello)
				c.ExpectError(shared.CodeUnauthorized)
				c.ExpectClosed()
			}
			// A session of 3 that says it is 1 later is ended.
			c, _ := connectT(t, tr, a, helloT(token(t, 3), 0, 2))
			watcher.ExpectState(3, true)
			c.Send(`{"user_id": 1, "online": true}`)
			c.ExpectError(shared.CodeUserMismatch)
			c.ExpectClosed()
			watcher.ExpectState(3, false)
			// A refresh with 1's token does not turn the session into 1's.
			c, _ = connectT(t, tr, a, helloT(token(t, 3), 0, 2))
			watcher.ExpectState(3, true)
			c.Send(helloT(token(t, 1), 0))
			c.ExpectError(shared.CodeUnauthorized)
			c.ExpectClosed()
			watcher.ExpectState(3, false)
			// 1 never looked online; 1 itself connects, is seen, and sees.
			real, snap := connectT(t, tr, a, helloT(token(t, 1), 0, 2))
			watcher.ExpectState(1, true)
			if len(snap) != 1 || snap[0] != 2 {
				t.Fatalf("1's snapshot %v, want [2]", snap)
			}
			real.Send(`{"online": false}`)
			real.ExpectClosed()
			watcher.ExpectState(1, false)
		})
	}
}

// A session ends with token_expired at its token's exp, and its watchers
// see it leave; a fresh token for the same user before then keeps it; one
// for another user, or one that does not verify, ends it as unauthorized.
func TestTokenExpiryAndRefresh(t *testing.T) {
	a, _ := authSystem(t, gateway.FriendsClient, presence.PolicyWatchers)
	soon := func(user int64) string {
		return sign(t, jose.HS256, testSecret, "", claims{sub: strconv.FormatInt(user, 10), exp: time.Now().Add(2 * time.Second)})
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			watcher, _ := connectT(t, tr, a, helloT(token(t, 2), 0, 1))

			c, _ := connectT(t, tr, a, helloT(soon(1), 0))
			watcher.ExpectState(1, true)
			c.ExpectError(shared.CodeTokenExpired)
			c.ExpectClosed()
			tr.closed(t, c)
			watcher.ExpectState(1, false)

			// exp is in whole seconds: this one is 4 to 5 s away, time
			// for the refresh to arrive before it however slow the machine.
			exp := time.Unix(time.Now().Add(5*time.Second).Unix(), 0)
			c, _ = connectT(t, tr, a, helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "1", exp: exp}), 0))
			watcher.ExpectState(1, true)
			c.Send(helloT(token(t, 1), 0)) // an hour
			// Past the first token's exp, the session is still there.
			c.ExpectQuiet(time.Until(exp) + time.Second)
			watcher.ExpectQuiet(10 * time.Millisecond)
			c.Send(helloT(sign(t, jose.HS256, otherSecret, "", claims{sub: "1"}), 0))
			c.ExpectError(shared.CodeUnauthorized)
			c.ExpectClosed()
			watcher.ExpectState(1, false)

			c, _ = connectT(t, tr, a, helloT(token(t, 1), 0))
			watcher.ExpectState(1, true)
			c.Send(helloT(token(t, 3), 0))
			m := c.ExpectError(shared.CodeUnauthorized)
			if !strings.Contains(m.Message, "another user") {
				t.Errorf("refresh for another user: %q does not say so", m.Message)
			}
			c.ExpectClosed()
			watcher.ExpectState(1, false)
		})
	}
}

// With --friends token the token's claim is the list: a client's list, in
// the hello or later, gets friends_managed (not fatal) and changes nothing;
// under mutual nobody can get on a list or see someone who does not list
// them, whatever they send.
func TestTrustedFriendsMutual(t *testing.T) {
	a, _ := authSystem(t, gateway.FriendsToken, presence.PolicyMutual)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			one, _ := connectT(t, tr, a, helloT(token(t, 1, 2), 0))
			// 3 holds a token listing 1 (its backend says so), and claims 1
			// and 2 in its hello besides.
			three := tr.dial(t, a)
			three.Send(helloT(token(t, 3, 1), 0, 1, 2))
			three.ExpectError(shared.CodeFriendsManaged)
			if snap := three.AwaitReady(); len(snap) != 0 {
				t.Fatalf("3 sees %v online: 1 does not list 3", snap)
			}
			three.Send(`{"friends": [1, 2]}`)
			three.ExpectError(shared.CodeFriendsManaged)
			// 2 lists 1 and 1 lists 2: they see each other, and only that.
			two, snap := connectT(t, tr, a, helloT(token(t, 2, 1, 3), 0))
			if len(snap) != 1 || snap[0] != 1 {
				t.Fatalf("2's snapshot %v, want [1]: 3 does not list 2", snap)
			}
			one.ExpectState(2, true)
			two.Send(`{"online": false}`)
			two.ExpectClosed()
			one.ExpectState(2, false)
			three.Send(`{"online": false}`)
			three.ExpectClosed()
			one.Send(`{"online": false}`)
			one.ExpectClosed()
			// 3 was never heard by anyone, and heard nothing.
		})
	}
}

// With --friends token a refresh's claim is the new list, applied as a
// friend-list update: under mutual, a friend dropped from it is told the
// user is offline to them.
func TestRefreshReplacesTokenFriends(t *testing.T) {
	a, _ := authSystem(t, gateway.FriendsToken, presence.PolicyMutual)
	tr := transports[0]
	one, _ := connectT(t, tr, a, helloT(token(t, 1, 2), 0))
	two, snap := connectT(t, tr, a, helloT(token(t, 2, 1), 0))
	if len(snap) != 1 || snap[0] != 1 {
		t.Fatalf("2's snapshot %v, want [1]", snap)
	}
	one.ExpectState(2, true)
	one.Send(helloT(token(t, 1, 2), 0)) // the same claim: nothing changes
	one.Send(helloT(sign(t, jose.HS256, testSecret, "", claims{sub: "1", friends: []int64{}}), 0))
	two.ExpectState(1, false)
	one.ExpectQuiet(100 * time.Millisecond)
}
