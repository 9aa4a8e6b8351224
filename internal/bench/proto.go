package bench

import (
	"errors"
	"strconv"
)

// The tool carries its own small codec for the client protocol (DESIGN §1)
// instead of importing the server's: a load tool that shares the server's
// decoder would share its bugs, and it must stay fast enough to read a few
// hundred thousand lines a second on a core it shares with the server.

// MsgKind is what a server line is.
type MsgKind uint8

// The server messages of protocol v1.
const (
	MsgUnknown MsgKind = iota // valid JSON object, but none of the below
	MsgState                  // {"user_id": X, "online": bool}
	MsgReady                  // {"ready": true, "session": "..."}
	MsgError                  // {"error": "code", "message": "..."}
)

// ServerMsg is one decoded server line. Strings are only kept for ready and
// error lines, which are rare.
type ServerMsg struct {
	Kind    MsgKind
	UserID  int64
	Online  bool
	Session string
	Code    string
	Text    string
}

var errSyntax = errors.New("bench: server line is not one flat JSON object")

// ParseServer decodes one server line (without its line ending). It accepts
// any valid JSON object, skipping unknown members, and classifies it.
func ParseServer(b []byte, m *ServerMsg) error {
	*m = ServerMsg{}
	p := parser{b: b}
	p.ws()
	if !p.eat('{') {
		return errSyntax
	}
	var hasUser, hasOnline, hasReady, hasError bool
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			k, ok := p.rawString()
			if !ok {
				return errSyntax
			}
			p.ws()
			if !p.eat(':') {
				return errSyntax
			}
			p.ws()
			switch string(k) { // no allocation: the compiler special-cases this
			case "user_id":
				v, ok := p.integer()
				if !ok {
					return errSyntax
				}
				m.UserID, hasUser = v, true
			case "online":
				v, ok := p.boolean()
				if !ok {
					return errSyntax
				}
				m.Online, hasOnline = v, true
			case "ready":
				v, ok := p.boolean()
				if !ok {
					return errSyntax
				}
				hasReady = v
			case "session":
				s, ok := p.rawString()
				if !ok {
					return errSyntax
				}
				m.Session = string(s)
			case "error":
				s, ok := p.rawString()
				if !ok {
					return errSyntax
				}
				m.Code, hasError = string(s), true
			case "message":
				s, ok := p.rawString()
				if !ok {
					return errSyntax
				}
				m.Text = string(s)
			default:
				if !p.skip(0) {
					return errSyntax
				}
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return errSyntax
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return errSyntax
	}
	switch {
	case hasError:
		m.Kind = MsgError
	case hasReady:
		m.Kind = MsgReady
	case hasUser && hasOnline:
		m.Kind = MsgState
	}
	return nil
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// rawString returns a string's bytes without unescaping: keys and codes the
// tool compares are plain ASCII, and a key spelled with escapes just reads as
// unknown.
func (p *parser) rawString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case '\\':
			p.i += 2
		default:
			p.i++
		}
	}
	return nil, false
}

func (p *parser) integer() (int64, bool) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	v, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return v, err == nil
}

func (p *parser) boolean() (bool, bool) {
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		p.i += 4
		return true, true
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		p.i += 5
		return false, true
	}
	return false, false
}

// skip passes over one JSON value of any kind; depth bounds nesting.
func (p *parser) skip(depth int) bool {
	if depth > 32 || p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, ok := p.rawString()
		return ok
	case c == '{' || c == '[':
		closeC := byte('}')
		if c == '[' {
			closeC = ']'
		}
		p.i++
		p.ws()
		if p.eat(closeC) {
			return true
		}
		for {
			p.ws()
			if c == '{' {
				if _, ok := p.rawString(); !ok {
					return false
				}
				p.ws()
				if !p.eat(':') {
					return false
				}
				p.ws()
			}
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat(closeC)
		}
	default:
		// A number or a literal: everything up to a delimiter.
		start := p.i
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return p.i > start
			}
			p.i++
		}
		return p.i > start
	}
}

// AppendHello appends a hello line for user id with the given friend ids.
func AppendHello(b []byte, id int64, friends []int64) []byte {
	b = append(b, `{"user_id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"friends":[`...)
	for i, f := range friends {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, f, 10)
	}
	return append(b, "]}\n"...)
}

// logoutLine ends a session the polite way (DESIGN §1).
var logoutLine = []byte("{\"online\":false}\n")
