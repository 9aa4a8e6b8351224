package shared

import (
	"strconv"
	"unicode/utf8"
)

// MaxUserID is the largest user id: user ids are positive signed 64-bit
// integers, so every client language can hold them.
const MaxUserID = 1<<63 - 1

// Error codes sent to clients in {"error": code, "message": text}.
const (
	CodeBadJSON        = "bad_json"         // not one JSON object
	CodeInvalidUTF8    = "invalid_utf8"     // a string is not UTF-8
	CodeDuplicateKey   = "duplicate_key"    // a field appears twice
	CodeBadUserID      = "bad_user_id"      // user_id is not a positive 64-bit integer
	CodeBadFriends     = "bad_friends"      // friends is not an array of user ids
	CodeBadOnline      = "bad_online"       // online is not a boolean
	CodeTooManyFriends = "too_many_friends" // friends is longer than the limit
	CodeTooLong        = "message_too_long" // a line or frame is over the size limit
	CodeHelloRequired  = "hello_required"   // the first message must carry user_id
	CodeHelloTimeout   = "hello_timeout"    // no hello within the deadline
	CodeUserMismatch   = "user_mismatch"    // user_id differs from the session's
	CodeRateLimited    = "rate_limited"     // too many messages too fast
	CodeShutdown       = "shutdown"         // the gateway is stopping
	CodeUnavailable    = "unavailable"      // the gateway cannot take sessions now
	CodeBadFrame       = "bad_frame"        // a WebSocket binary frame; messages are text
	CodeIdleTimeout    = "idle_timeout"     // a UDP session was silent too long
	CodeBadStatus      = "bad_status"       // status is not a Status, or text breaks the rules of CheckStatusText
	CodeBadToken       = "bad_token"        // token is not a string of JWT characters
	CodeTokenTooLong   = "token_too_long"   // token is longer than MaxTokenLen bytes
	CodeBadCookie      = "bad_cookie"       // cookie is not a base64url string of at most MaxCookieLen bytes
	CodeKicked         = "kicked"           // a backend ended the user's sessions
)

// MaxTokenLen is the longest token the decoder carries, in bytes. Real JWTs
// are well under 2 KiB; a token with a large friends claim is the reason for
// the headroom. The cap keeps a hello from making the verifier hash and
// base64-decode most of a 64 KiB line.
const MaxTokenLen = 8 << 10

// MaxCookieLen is the longest UDP return-routability cookie the decoder
// carries, in bytes (base64url text). A cookie is a MAC and a timestamp,
// far below this; the bound keeps a hello small.
const MaxCookieLen = 64

// ProtocolError is a problem with what a client sent. Code is one of the
// Code constants; Message says what was wrong for a person to read.
type ProtocolError struct {
	Code    string
	Message string
}

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Message }

func protoErr(code, msg string) *ProtocolError { return &ProtocolError{Code: code, Message: msg} }

// ClientMessage is a decoded client message. The Has fields say which members
// were present. The slices (Friends, Token, Text, Cookie) are reused by the
// next DecodeClient into the same ClientMessage, to spare allocations: copy
// what must outlive it. They never share memory with the input. A
// ClientMessage kept per session keeps the capacity of the longest token it
// decoded (up to MaxTokenLen): set Token to nil once the hello is verified.
type ClientMessage struct {
	UserID  int64
	Friends []int64
	Online  bool
	// Token is the hello's JWT (DESIGN §7), undecoded: the auth package
	// verifies it. Only its length and characters are checked here.
	Token []byte
	// Status and Text, when HasStatus, set the user's status. Text is
	// empty when it was absent, null or "": all three clear it. Text
	// never comes without Status (DecodeClient refuses that).
	Status Status
	Text   []byte
	// Cookie is the UDP return-routability cookie the client echoes;
	// only its length and characters are checked here.
	Cookie []byte

	HasUserID  bool
	HasFriends bool
	HasOnline  bool
	HasToken   bool
	HasStatus  bool
	HasText    bool
	HasCookie  bool
}

// DecodeClient decodes one client message (one line without its line ending,
// or one frame). It is strict where the contract is: the message must be one
// JSON object; user_id a positive integer no larger than MaxUserID, written
// without fraction or exponent; friends an array of such integers with at most
// maxFriends entries; online a boolean; token a string of at most MaxTokenLen
// JWT characters (base64url and '.'); status one of the Status names; text a
// string (or null) that CheckStatusText accepts, and only beside status;
// cookie a base64url string of at most MaxCookieLen bytes; no known field
// twice; strings valid UTF-8. Unknown fields are skipped (but must be valid
// JSON). Which fields a message needs (a hello its user_id or token) is the
// gateway's business, not the decoder's. Errors are *ProtocolError.
func DecodeClient(data []byte, m *ClientMessage, maxFriends int) error {
	// Not one composite literal: that is built on the stack and copied
	// with write barriers, which made BenchmarkDecodeHello 20% slower.
	friends, token, text, cookie := m.Friends[:0], m.Token[:0], m.Text[:0], m.Cookie[:0]
	*m = ClientMessage{}
	m.Friends, m.Token, m.Text, m.Cookie = friends, token, text, cookie
	d := decoder{b: data}
	d.ws()
	if !d.eat('{') {
		return protoErr(CodeBadJSON, "a message must be a JSON object")
	}
	err := d.elements('}', func() error {
		k, err := d.key()
		if err != nil {
			return err
		}
		if err := d.colon(); err != nil {
			return err
		}
		switch k {
		case keyUserID:
			if m.HasUserID {
				return protoErr(CodeDuplicateKey, "user_id appears twice")
			}
			m.UserID, err = d.userID(CodeBadUserID, -1)
			m.HasUserID = true
		case keyFriends:
			if m.HasFriends {
				return protoErr(CodeDuplicateKey, "friends appears twice")
			}
			m.Friends, err = d.friends(m.Friends, maxFriends)
			m.HasFriends = true
		case keyOnline:
			if m.HasOnline {
				return protoErr(CodeDuplicateKey, "online appears twice")
			}
			m.Online, err = d.boolean()
			m.HasOnline = true
		case keyToken:
			if m.HasToken {
				return protoErr(CodeDuplicateKey, "token appears twice")
			}
			m.Token, err = d.token(m.Token)
			m.HasToken = true
		case keyStatus:
			if m.HasStatus {
				return protoErr(CodeDuplicateKey, "status appears twice")
			}
			m.Status, err = d.status()
			m.HasStatus = true
		case keyText:
			if m.HasText {
				return protoErr(CodeDuplicateKey, "text appears twice")
			}
			m.Text, err = d.text(m.Text)
			m.HasText = true
		case keyCookie:
			if m.HasCookie {
				return protoErr(CodeDuplicateKey, "cookie appears twice")
			}
			m.Cookie, err = d.cookie(m.Cookie)
			m.HasCookie = true
		default:
			err = d.skip(0)
		}
		return err
	})
	if err != nil {
		return err
	}
	d.ws()
	if d.i != len(d.b) {
		return protoErr(CodeBadJSON, "unexpected data after the JSON object (send one object per line)")
	}
	if m.HasText && !m.HasStatus {
		// A status message sets the pair; text alone would leave open
		// whether the status stays, and another session may have changed it.
		return protoErr(CodeBadStatus, "text must come with status")
	}
	return nil
}

type key int

const (
	keyOther key = iota
	keyUserID
	keyFriends
	keyOnline
	keyToken
	keyStatus
	keyText
	keyCookie
)

// maxDepth bounds nesting inside skipped values, so a hostile line cannot
// make the decoder recurse deeply.
const maxDepth = 32

type decoder struct {
	b []byte
	i int
}

func (d *decoder) ws() {
	b, i := d.b, d.i
	// Most calls find no space at all: one comparison settles it.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	d.i = i
}

// elements reads the members of an object or array whose opening bracket
// has been read, calling item for each, up to the closing bracket end.
func (d *decoder) elements(end byte, item func() error) error {
	d.ws()
	if d.eat(end) {
		return nil
	}
	for {
		d.ws()
		if err := item(); err != nil {
			return err
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat(end) {
			return nil
		}
		return d.syntax("expected ',' or '" + string(end) + "'")
	}
}

// colon reads the ':' after an object key, with the space around it.
func (d *decoder) colon() error {
	d.ws()
	if !d.eat(':') {
		return d.syntax("expected ':' after an object key")
	}
	d.ws()
	return nil
}

func (d *decoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) syntax(msg string) error {
	if d.i >= len(d.b) {
		return protoErr(CodeBadJSON, "the message ends too early: "+msg)
	}
	return protoErr(CodeBadJSON, msg+" at byte "+strconv.Itoa(d.i))
}

// key reads an object key and says which known field it names. Keys spelled
// with escapes are decoded, so "user\u005fid" is user_id, as JSON says.
func (d *decoder) key() (key, error) {
	if d.peek() != '"' {
		return 0, d.syntax("expected a string as object key")
	}
	// Fast path: a short key of plain ASCII, as every real client sends.
	for i := d.i + 1; i < len(d.b) && i <= d.i+9; i++ {
		c := d.b[i]
		if c == '"' {
			k := keyOf(d.b[d.i+1 : i])
			d.i = i + 1
			return k, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	var buf [8]byte
	n := 0
	long := false
	err := d.str(func(r rune) {
		if n+utf8.RuneLen(r) > len(buf) {
			long = true
			return
		}
		n += utf8.EncodeRune(buf[n:], r)
	})
	if err != nil || long {
		return keyOther, err
	}
	return keyOf(buf[:n]), nil
}

func keyOf(name []byte) key {
	switch string(name) {
	case "user_id":
		return keyUserID
	case "friends":
		return keyFriends
	case "online":
		return keyOnline
	case "token":
		return keyToken
	case "status":
		return keyStatus
	case "text":
		return keyText
	case "cookie":
		return keyCookie
	}
	return keyOther
}

// str reads a string at d.i, validating escapes and UTF-8, and passes each
// decoded rune to emit when emit is not nil.
func (d *decoder) str(emit func(rune)) error {
	d.i++ // opening quote
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return nil
		case c == '\\':
			r, err := d.escape()
			if err != nil {
				return err
			}
			if emit != nil {
				emit(r)
			}
		case c < 0x20:
			return d.syntax("control character in a string")
		case c < utf8.RuneSelf:
			d.i++
			if emit != nil {
				emit(rune(c))
			}
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size <= 1 {
				return protoErr(CodeInvalidUTF8, "a string is not valid UTF-8 at byte "+strconv.Itoa(d.i))
			}
			d.i += size
			if emit != nil {
				emit(r)
			}
		}
	}
	return d.syntax("unterminated string")
}

func (d *decoder) escape() (rune, error) {
	d.i++ // backslash
	if d.i >= len(d.b) {
		return 0, d.syntax("unterminated escape")
	}
	c := d.b[d.i]
	d.i++
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		if d.i+4 > len(d.b) {
			return 0, d.syntax("short \\u escape")
		}
		v, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 16)
		if err != nil {
			return 0, d.syntax("bad \\u escape")
		}
		d.i += 4
		return rune(v), nil
	}
	return 0, d.syntax("unknown escape")
}

// userID reads a positive integer up to MaxUserID: user_id itself, or the
// friends entry at index (index ≥ 0), which names it in error messages.
func (d *decoder) userID(code string, index int) (int64, error) {
	switch c := d.peek(); {
	case d.i >= len(d.b):
		return 0, d.syntax("expected a value")
	case c == '"':
		return 0, protoErr(code, label(index)+" must be a number, not a string")
	case c != '-' && (c < '0' || c > '9'):
		return 0, protoErr(code, label(index)+" must be a positive integer")
	}
	start := d.i
	neg := d.eat('-')
	var v uint64
	overflow := false
	digits := 0
	first := d.i
	b, i := d.b, d.i
	for i < len(b) && b[i]-'0' <= 9 {
		const cutoff, last = MaxUserID / 10, MaxUserID % 10
		digit := uint64(b[i] - '0')
		if v > cutoff || (v == cutoff && digit > last) {
			overflow = true
		} else {
			v = v*10 + digit
		}
		i++
	}
	digits = i - first
	d.i = i
	if digits == 0 {
		return 0, d.syntax("expected digits")
	}
	if digits > 1 && d.b[first] == '0' {
		d.i = first + 1
		return 0, d.syntax("leading zero in a number")
	}
	if c := d.peek(); c == '.' || c == 'e' || c == 'E' {
		d.i = start
		if err := d.number(); err != nil {
			return 0, err
		}
		return 0, protoErr(code, label(index)+" must be an integer, without fraction or exponent")
	}
	switch {
	case neg:
		return 0, protoErr(code, label(index)+" must be positive")
	case overflow:
		return 0, protoErr(code, label(index)+" is larger than 9223372036854775807")
	case v == 0:
		return 0, protoErr(code, label(index)+" must be positive, not 0")
	}
	return int64(v), nil
}

// label names the value userID reads, for error messages only.
func label(index int) string {
	if index < 0 {
		return "user_id"
	}
	return "friends[" + strconv.Itoa(index) + "]"
}

// friends reads the friends array. It is the hot path of a hello, so it
// loops by hand rather than through elements.
func (d *decoder) friends(out []int64, max int) ([]int64, error) {
	if !d.eat('[') {
		return out, protoErr(CodeBadFriends, "friends must be an array of user ids")
	}
	d.ws()
	if d.eat(']') {
		return out, nil
	}
	for {
		d.ws()
		if len(out) >= max {
			return out, protoErr(CodeTooManyFriends, "friends has more than "+strconv.Itoa(max)+" entries")
		}
		id, err := d.userID(CodeBadFriends, len(out))
		if err != nil {
			return out, err
		}
		out = append(out, id)
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat(']') {
			return out, nil
		}
		return out, d.syntax("expected ',' or ']' in friends")
	}
}

func (d *decoder) boolean() (bool, error) {
	if d.lit("true") {
		return true, nil
	}
	if d.lit("false") {
		return false, nil
	}
	return false, protoErr(CodeBadOnline, "online must be true or false")
}

func (d *decoder) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// skip validates and passes over any JSON value.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return protoErr(CodeBadJSON, "nesting deeper than "+strconv.Itoa(maxDepth))
	}
	switch c := d.peek(); {
	case c == '"':
		return d.str(nil)
	case c == '{':
		d.i++
		return d.elements('}', func() error {
			if d.peek() != '"' {
				return d.syntax("expected a string as object key")
			}
			if err := d.str(nil); err != nil {
				return err
			}
			if err := d.colon(); err != nil {
				return err
			}
			return d.skip(depth + 1)
		})
	case c == '[':
		d.i++
		return d.elements(']', func() error { return d.skip(depth + 1) })
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case d.lit("true"), d.lit("false"), d.lit("null"):
		return nil
	}
	return d.syntax("expected a JSON value")
}

// number validates a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() error {
	d.eat('-')
	if d.eat('0') {
		// no more integer digits after a leading zero
	} else if !d.digits() {
		return d.syntax("expected digits")
	}
	if d.eat('.') && !d.digits() {
		return d.syntax("expected digits after '.'")
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if !d.digits() {
			return d.syntax("expected digits in exponent")
		}
	}
	return nil
}

func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// AppendState appends the client message {"user_id":id,"online":online}.
func AppendState(b []byte, id int64, online bool) []byte {
	b = append(b, `{"user_id":`...)
	b = strconv.AppendInt(b, id, 10)
	if online {
		return append(b, `,"online":true}`...)
	}
	return append(b, `,"online":false}`...)
}

// AppendReady appends the client message {"ready":true,"session":session}.
func AppendReady(b []byte, session string) []byte {
	b = append(b, `{"ready":true,"session":`...)
	b = appendString(b, session)
	return append(b, '}')
}

// AppendError appends the client message {"error":code,"message":msg}.
func AppendError(b []byte, code, msg string) []byte {
	b = append(b, `{"error":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// AppendHello appends the client message {"user_id":user,"friends":[...]},
// the first message of every session. A nil friends is written [], since
// null is not a friend list.
func AppendHello(b []byte, user int64, friends []int64) []byte {
	b = append(b, `{"user_id":`...)
	b = strconv.AppendInt(b, user, 10)
	b = append(b, `,"friends":`...)
	return append(appendIDs(b, friends), '}')
}

// Hello is a hello with everything a client may put in it, for
// AppendHelloWith. A zero field is left out of the message.
type Hello struct {
	// UserID, when not 0, is written; with a token it may be left out.
	UserID int64
	// Friends, when not nil, is written (an empty list as []); nil leaves
	// it out, as a client does when friends come from a trusted source.
	Friends []int64
	// Token, when not "", is the JWT (DESIGN §7).
	Token string
	// Status and Text are written when either is not the default
	// (StatusOnline, no text): the initial status.
	Status Status
	Text   string
	// Cookie, when not "", is the UDP cookie the gateway handed out.
	Cookie string
}

// AppendHelloWith appends the hello h describes, fields in the order of
// the Hello struct: {"user_id":1,"friends":[2],"token":"…","status":"away",
// "text":"…","cookie":"…"}. With only UserID and Friends set it writes what
// AppendHello writes.
func AppendHelloWith(b []byte, h Hello) []byte {
	b = append(b, '{')
	start := len(b)
	field := func(name string) {
		if len(b) > start {
			b = append(b, ',')
		}
		b = append(b, name...)
	}
	if h.UserID != 0 {
		field(`"user_id":`)
		b = strconv.AppendInt(b, h.UserID, 10)
	}
	if h.Friends != nil {
		field(`"friends":`)
		b = appendIDs(b, h.Friends)
	}
	if h.Token != "" {
		field(`"token":`)
		b = appendString(b, h.Token)
	}
	if h.Status != StatusOnline || h.Text != "" {
		field(`"status":`)
		b = appendString(b, h.Status.String())
		if h.Text != "" {
			b = append(b, `,"text":`...)
			b = appendString(b, h.Text)
		}
	}
	if h.Cookie != "" {
		field(`"cookie":`)
		b = appendString(b, h.Cookie)
	}
	return append(b, '}')
}

// AppendStatus appends the client message {"status":s,"text":text} (text
// left out when empty, which clears it), which sets the user's status.
func AppendStatus(b []byte, s Status, text string) []byte {
	b = append(b, `{"status":`...)
	b = appendString(b, s.String())
	if text != "" {
		b = append(b, `,"text":`...)
		b = appendString(b, text)
	}
	return append(b, '}')
}

// AppendToken appends the client message {"token":token}: a fresh token
// for a session whose token is about to expire.
func AppendToken(b []byte, token string) []byte {
	b = append(b, `{"token":`...)
	b = appendString(b, token)
	return append(b, '}')
}

// AppendFriends appends the client message {"friends":[...]}, which replaces
// the session's friend list.
func AppendFriends(b []byte, friends []int64) []byte {
	b = append(b, `{"friends":`...)
	return append(appendIDs(b, friends), '}')
}

// AppendLogout appends the client message {"online":false}, which ends the
// session.
func AppendLogout(b []byte) []byte { return append(b, `{"online":false}`...) }

func appendIDs(b []byte, ids []int64) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so the
// output is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		b = appendStringRune(b, r)
	}
	return append(b, '"')
}

// appendStringRune appends r as it stands inside a JSON string.
func appendStringRune(b []byte, r rune) []byte {
	switch {
	case r == '"' || r == '\\':
		return append(b, '\\', byte(r))
	case r < 0x20:
		return append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
	}
	return utf8.AppendRune(b, r)
}

// tokenChars are the characters of a JWT in compact serialization: three
// base64url parts (RFC 7515 §2, no padding) joined by '.'.
var tokenChars = charSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")

// cookieChars is the base64url alphabet (RFC 4648 §5), padding allowed.
var cookieChars = charSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")

func charSet(s string) *[256]bool {
	var set [256]bool
	for i := 0; i < len(s); i++ {
		set[s[i]] = true
	}
	return &set
}

// token reads the token into dst.
func (d *decoder) token(dst []byte) ([]byte, error) {
	dst, err := d.asciiString(dst, MaxTokenLen, tokenChars, CodeBadToken, CodeTokenTooLong, "token")
	if err == nil && len(dst) == 0 {
		err = protoErr(CodeBadToken, "token is empty")
	}
	return dst, err
}

// cookie reads the UDP cookie into dst.
func (d *decoder) cookie(dst []byte) ([]byte, error) {
	dst, err := d.asciiString(dst, MaxCookieLen, cookieChars, CodeBadCookie, CodeBadCookie, "cookie")
	if err == nil && len(dst) == 0 {
		err = protoErr(CodeBadCookie, "cookie is empty")
	}
	return dst, err
}

// asciiString reads a string whose characters must all be in set, appending
// them to dst, at most max of them. Escapes are decoded as JSON says ("\u0041"
// is A), so the check is on what the string means, not how it is spelled.
// A value that is not a string, or holds a character outside set, is refused
// with code; a longer one with tooLong. Neither error echoes the value: a
// token is a secret and would end up in logs.
func (d *decoder) asciiString(dst []byte, max int, set *[256]bool, code, tooLong, what string) ([]byte, error) {
	if d.peek() != '"' {
		return dst, protoErr(code, what+" must be a string")
	}
	start := len(dst)
	d.i++
	b := d.b
	for d.i < len(b) {
		// The common case, a run of plain characters, is copied at once.
		j := d.i
		for j < len(b) && set[b[j]] {
			j++
		}
		if len(dst)-start+j-d.i > max {
			return dst, protoErr(tooLong, what+" is longer than "+strconv.Itoa(max)+" bytes")
		}
		dst = append(dst, b[d.i:j]...)
		d.i = j
		if j == len(b) {
			break
		}
		switch c := b[j]; c {
		case '"':
			d.i++
			return dst, nil
		case '\\':
			r, err := d.escape()
			if err != nil {
				return dst, err
			}
			if r >= utf8.RuneSelf || !set[r] {
				return dst, protoErr(code, what+" holds a character it cannot have")
			}
			if len(dst)-start >= max {
				return dst, protoErr(tooLong, what+" is longer than "+strconv.Itoa(max)+" bytes")
			}
			dst = append(dst, byte(r))
		default:
			return dst, protoErr(code, what+" holds a character it cannot have")
		}
	}
	return dst, d.syntax("unterminated string")
}
