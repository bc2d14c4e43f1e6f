package registry

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Error is an error with an HTTP status and, for bad input, the field it concerns.
// Store methods return it for everything a client can cause.
type Error struct {
	Status int
	Field  string
	Msg    string
}

// Error implements error: "field: message" or the message.
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

func errorf(status int, field, format string, a ...any) *Error {
	return &Error{Status: status, Field: field, Msg: fmt.Sprintf(format, a...)}
}

func notFound(what string, id any) *Error {
	return errorf(http.StatusNotFound, "", "%s %v not found", what, id)
}

func forbidden(format string, a ...any) *Error {
	return errorf(http.StatusForbidden, "", format, a...)
}

// statusOf maps err to an HTTP status, field and message; unknown errors are 500.
func statusOf(err error) (int, string, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Field, e.Msg
	}
	var fe *gridapi.FieldError
	if errors.As(err, &fe) {
		return http.StatusBadRequest, fe.Field, fe.Reason
	}
	return http.StatusInternalServerError, "", "internal error"
}
