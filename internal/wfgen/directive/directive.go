// Package directive reads wfgen's annotations: comment lines of the form
//
//	//wf:kind key=value key="quoted value" flag ...
//
// in doc comments. gofmt treats "//wf:" lines as directives (no space after the slashes),
// so they stay out of the rendered documentation. This package knows the syntax only;
// which kinds and options exist is the analyzer's business.
package directive

import (
	"fmt"
	"go/ast"
	"go/token"
	"strconv"
	"strings"
	"unicode"
)

// Prefix starts every wfgen annotation.
const Prefix = "//wf:"

// Directive is one annotation line.
type Directive struct {
	Kind    string    // the word after "//wf:", such as "workflow"
	Pos     token.Pos // of the "//"
	Options []Option  // in the order written
}

// Option is one key=value pair of a directive, or a bare word (a flag such as tx).
type Option struct {
	Key      string
	Value    string // unquoted; "" for a bare word
	Pos      token.Pos
	ValuePos token.Pos // Pos for a bare word
	// Bare is set for a word without "=value": whether the key may be bare is the
	// analyzer's business.
	Bare bool
}

// Error is a syntax error in a directive.
type Error struct {
	Pos token.Pos
	Msg string
}

// Is reports whether a comment is a wfgen annotation.
func Is(c *ast.Comment) bool {
	return strings.HasPrefix(c.Text, Prefix)
}

// AllowKind is the kind of the comment that marks a call a workflow makes on purpose
// although the determinism checks report it: //wf:allow <reason>. It goes on the line
// of the call or the line before it, anywhere in a function body, and is no annotation.
const AllowKind = "allow"

// Allow reports whether c is a //wf:allow comment, and returns its reason (empty when
// it gives none).
func Allow(c *ast.Comment) (reason string, ok bool) {
	rest, ok := strings.CutPrefix(c.Text, Prefix+AllowKind)
	if !ok || rest != "" && !unicode.IsSpace(rune(rest[0])) {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// Parse reads an annotation. It returns every syntax error it finds; the options it could
// read are returned too, so that their own mistakes are reported in the same run.
func Parse(c *ast.Comment) (Directive, []Error) {
	text := strings.TrimPrefix(c.Text, Prefix)
	base := c.Slash + token.Pos(len(Prefix))
	kindEnd := strings.IndexFunc(text, unicode.IsSpace)
	if kindEnd < 0 {
		kindEnd = len(text)
	}
	d := Directive{Kind: text[:kindEnd], Pos: c.Slash}
	var errs []Error
	if d.Kind == "" {
		errs = append(errs, Error{c.Slash, fmt.Sprintf("annotation %q has no kind: write //wf:workflow, //wf:step or //wf:scheduled", c.Text)})
	}
	seen := map[string]bool{}
	i := kindEnd
	for {
		for i < len(text) && unicode.IsSpace(rune(text[i])) {
			i++
		}
		if i >= len(text) {
			break
		}
		start := i
		pos := base + token.Pos(start)
		for i < len(text) && text[i] != '=' && !unicode.IsSpace(rune(text[i])) {
			i++
		}
		key := text[start:i]
		if i >= len(text) || text[i] != '=' {
			if seen[key] {
				errs = append(errs, Error{pos, fmt.Sprintf("option %s given twice", key)})
				continue
			}
			seen[key] = true
			d.Options = append(d.Options, Option{Key: key, Pos: pos, ValuePos: pos, Bare: true})
			continue
		}
		if key == "" {
			errs = append(errs, Error{pos, "option without a name before '='"})
		}
		i++ // '='
		valuePos := base + token.Pos(i)
		var value string
		if i < len(text) && text[i] == '"' {
			quoted, err := strconv.QuotedPrefix(text[i:])
			if err != nil {
				errs = append(errs, Error{valuePos, fmt.Sprintf("option %s: unterminated or malformed quoted value %s", key, text[i:])})
				break
			}
			value, _ = strconv.Unquote(quoted) // QuotedPrefix checked it
			i += len(quoted)
			if i < len(text) && !unicode.IsSpace(rune(text[i])) {
				errs = append(errs, Error{base + token.Pos(i), fmt.Sprintf("option %s: expected a space after the quoted value", key)})
				for i < len(text) && !unicode.IsSpace(rune(text[i])) {
					i++
				}
			}
		} else {
			vstart := i
			for i < len(text) && !unicode.IsSpace(rune(text[i])) {
				i++
			}
			value = text[vstart:i]
		}
		if key == "" {
			continue
		}
		if seen[key] {
			errs = append(errs, Error{pos, fmt.Sprintf("option %s given twice", key)})
			continue
		}
		seen[key] = true
		d.Options = append(d.Options, Option{Key: key, Value: value, Pos: pos, ValuePos: valuePos})
	}
	return d, errs
}
