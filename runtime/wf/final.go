package wf

import "errors"

// Final marks err as final: a step function that returns it fails at once, without the
// retries its policy has left, and without asking the step's RetryIf. Use it for errors
// that no retry can fix, such as a declined card or an invalid request:
//
//	if resp.StatusCode == http.StatusUnprocessableEntity {
//		return Receipt{}, wf.Final(fmt.Errorf("charge refused: %s", body))
//	}
//
// The mark changes nothing else: the error's message is err's, and errors.Is and errors.As
// see through it to err. The step's *StepError has Final set, and so has the same error
// replayed from its checkpoint, in any process. Final(nil) is nil. Workflows are not
// retried, so a workflow that returns a final error simply fails.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return &finalError{err: err}
}

// finalError is an error marked with Final.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// IsFinal reports whether err was marked with Final, or is (or wraps) a *StepError of a step
// that stopped on a final error: marked with Final, or refused by the step's RetryIf.
func IsFinal(err error) bool {
	if markedFinal(err) {
		return true
	}
	var st *StepError
	return errors.As(err, &st) && st.Final
}

func markedFinal(err error) bool {
	var f *finalError
	return errors.As(err, &f)
}
