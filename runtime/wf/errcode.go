package wf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// CodedError is an error that carries a code a program can act on, such as "card_declined".
// When a step or a workflow fails with an error whose tree holds a CodedError, its code and
// message are stored with the failure, so that every process reads them back: errors.As
// with a CodedError target finds them in a replayed StepError and in the WorkflowError that
// Handle.Result returns, in any process. To get the error's typed value back too, register
// its type with RegisterErrorCode.
type CodedError interface {
	error
	// ErrorCode returns the error's code; an empty code is not stored.
	ErrorCode() string
}

// RecordedError is a coded error read back from the database: the code and message of an
// error that a step or a workflow failed with, in the process that reads the failure. It is
// a CodedError. For a type registered with RegisterErrorCode it also wraps the error's
// value, decoded from the JSON stored with it, so errors.As finds that type too; without a
// registration (or when the stored JSON no longer decodes as the registered type) it has the
// code and the message only.
type RecordedError struct {
	Code    string
	Message string

	value error           // the registered type's decoded value, or nil
	raw   json.RawMessage // the stored value, so that storing e again keeps it
}

func (e *RecordedError) Error() string { return e.Message }

// ErrorCode returns the recorded code.
func (e *RecordedError) ErrorCode() string { return e.Code }

// Unwrap returns the decoded value of a registered type, or nil.
func (e *RecordedError) Unwrap() error { return e.value }

// RegisterErrorCode registers the error type T under code: when a step or a workflow fails
// with an error whose tree holds a T, the T is stored as JSON with the failure, and read back
// as a T wherever the failure is read (a replayed step, Handle.Result in any process), so
// errors.As finds it with its exported fields, and finds code as a CodedError. T's JSON
// encoding is what survives: exported fields, or its MarshalJSON and UnmarshalJSON. Register
// in every process that stores or reads such failures (an init function or main, before the
// client starts), with the same code: the code, not the Go type's name, is what is stored,
// so a type may be renamed or moved as long as it keeps its code. Use the type a step
// returns: a pointer type (*PaymentError) when its Error method has a pointer receiver.
//
// RegisterErrorCode panics on an empty code, an interface type, a code registered for
// another type, or a type registered under another code: registrations are made at program
// start, where that is a programming error. Registering the same pair again does nothing.
func RegisterErrorCode[T error](code string) {
	t := reflect.TypeFor[T]()
	switch {
	case strings.TrimSpace(code) == "":
		panic(fmt.Sprintf("wf: RegisterErrorCode[%s]: empty code", t))
	case t.Kind() == reflect.Interface:
		panic(fmt.Sprintf("wf: RegisterErrorCode[%s]: an interface type has no value to store; register the concrete error type", t))
	}
	errorCodes.Lock()
	defer errorCodes.Unlock()
	if prev, ok := errorCodes.byCode[code]; ok && prev != t {
		panic(fmt.Sprintf("wf: RegisterErrorCode[%s]: code %q is already registered for %s", t, code, prev))
	}
	if prev, ok := errorCodes.byType[t]; ok && prev != code {
		panic(fmt.Sprintf("wf: RegisterErrorCode[%s]: the type is already registered under code %q", t, prev))
	}
	errorCodes.byCode[code] = t
	errorCodes.byType[t] = code
}

// errorCodes are the registrations of RegisterErrorCode. They are process-wide, like the
// types they name, so that any client of the process reads any failure.
var errorCodes = struct {
	sync.RWMutex
	byCode map[string]reflect.Type
	byType map[reflect.Type]string
}{byCode: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}

// ErrorCode returns the code of the first coded error in err's tree, in the order errors.As
// visits it: a registered type's code (RegisterErrorCode), a CodedError's, or a
// RecordedError's. It answers the same for a step's live error, for the same error replayed
// from its checkpoint and for a WorkflowError read in any process; "" when err has no code.
func ErrorCode(err error) string {
	if codes := codesOf(err); len(codes) > 0 {
		return codes[0].Code
	}
	return ""
}

// storedCode is a coded error as stored with a failure.
type storedCode struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Value   json.RawMessage `json:"value,omitempty"` // a registered type's JSON
	// Attempt is the step attempt (1-based) the error belongs to, when it was found under a
	// StepError's attempts; 0 otherwise.
	Attempt int `json:"attempt,omitempty"`
}

// maxStoredCodes bounds the coded errors stored with one failure: a step that retries many
// times with coded errors must not make its checkpoint grow without limit.
const maxStoredCodes = 32

// codesOf returns the coded errors in err's tree, in the order errors.As visits them
// (depth first, a wrapper before what it wraps). Below the first StepError, each is numbered
// with the attempt it belongs to, so that a replayed StepError puts it back under it. A coded
// error's own tree is not searched: its value is stored whole.
func codesOf(err error) []storedCode {
	var out []storedCode
	var visit func(err error, attempt int, inStep bool)
	visit = func(err error, attempt int, inStep bool) {
		if err == nil || len(out) >= maxStoredCodes {
			return
		}
		if c, ok := codeOf(err); ok {
			c.Attempt = attempt
			out = append(out, c)
			return
		}
		switch u := err.(type) {
		case *StepError:
			for i, a := range u.Attempts {
				if inStep {
					visit(a, attempt, true)
				} else {
					visit(a, i+1, true)
				}
			}
		case interface{ Unwrap() error }:
			visit(u.Unwrap(), attempt, inStep)
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				visit(e, attempt, inStep)
			}
		}
	}
	visit(err, 0, false)
	return out
}

// codeOf returns what is stored of err when it is a coded error: a RecordedError (read back
// earlier and failing again), a registered type, or a CodedError.
func codeOf(err error) (storedCode, bool) {
	if r, ok := err.(*RecordedError); ok {
		return storedCode{Code: r.Code, Message: noNUL(r.Message), Value: r.raw}, true
	}
	errorCodes.RLock()
	code, registered := errorCodes.byType[reflect.TypeOf(err)]
	errorCodes.RUnlock()
	if registered {
		c := storedCode{Code: code, Message: noNUL(err.Error())}
		if b, jerr := json.Marshal(err); jerr == nil {
			// jsonb refuses the \u0000 escape too.
			c.Value = bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`))
		}
		return c, true
	}
	if ce, ok := err.(CodedError); ok && ce.ErrorCode() != "" {
		return storedCode{Code: ce.ErrorCode(), Message: noNUL(ce.Error())}, true
	}
	return storedCode{}, false
}

// decode reads a stored coded error back: a RecordedError, wrapping the typed value when
// its code is registered and its JSON decodes.
func (c storedCode) decode() error {
	e := &RecordedError{Code: c.Code, Message: c.Message, raw: c.Value}
	errorCodes.RLock()
	t, registered := errorCodes.byCode[c.Code]
	errorCodes.RUnlock()
	if registered && len(c.Value) > 0 {
		p := reflect.New(t)
		if json.Unmarshal(c.Value, p.Interface()) == nil {
			e.value, _ = p.Elem().Interface().(error)
		}
	}
	return e
}
