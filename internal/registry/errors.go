package registry

import (
	"errors"
	"fmt"
)

// The kinds of error a client can cause. Store methods return them inside an *Error
// (or, for a spec that fails validation, a *gridapi.FieldError, which is ErrInvalid's
// kind too); branch with errors.Is.
var (
	ErrInvalid   = errors.New("invalid")   // the request is malformed or does not fit
	ErrNotFound  = errors.New("not found") // the farm, node or network does not exist
	ErrForbidden = errors.New("forbidden") // the signer may not do this to this object
	ErrConflict  = errors.New("conflict")  // the request clashes with what is stored
)

// Error is an error a client caused: its kind (ErrInvalid, ErrNotFound, ErrForbidden
// or ErrConflict), and for bad input the field it concerns.
type Error struct {
	Kind  error
	Field string
	Msg   string
}

// Error implements error: "field: message" or the message.
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns the kind, so that errors.Is(err, ErrNotFound) and the like hold.
func (e *Error) Unwrap() error { return e.Kind }

func kindf(kind error, field, format string, a ...any) *Error {
	return &Error{Kind: kind, Field: field, Msg: fmt.Sprintf(format, a...)}
}

func invalid(field, format string, a ...any) *Error { return kindf(ErrInvalid, field, format, a...) }

func conflict(field, format string, a ...any) *Error { return kindf(ErrConflict, field, format, a...) }

func notFound(what string, id any) *Error {
	return kindf(ErrNotFound, "", "%s %v not found", what, id)
}

func forbidden(format string, a ...any) *Error { return kindf(ErrForbidden, "", format, a...) }
