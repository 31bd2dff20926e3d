package replay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// The kinds of transport failure an [Exchange] records in its Error field
// when the request got no answer. A replayer answers the same request with
// a [*TransportError] of the same kind, which the SDK classifies as it did
// the real failure: a dropped connection, a reset or a timeout leaves open
// whether the server acted (a message send then looks its delivery keys up,
// and the lookup replays from the next fixtures), a failure to connect
// never reached the server.
const (
	// ErrorConnectionClosed: the connection closed before a whole answer
	// arrived (io.EOF, io.ErrUnexpectedEOF). Replayed wrapping
	// io.ErrUnexpectedEOF.
	ErrorConnectionClosed = "connection closed"
	// ErrorConnectionReset: the connection was reset or aborted, or a write
	// found it broken (ECONNRESET, ECONNABORTED, EPIPE, or another failed
	// network read or write). Replayed as a *net.OpError reading ECONNRESET.
	ErrorConnectionReset = "connection reset"
	// ErrorCouldNotConnect: no connection was made (refused, or a DNS
	// lookup that failed for a while): the request never left. Replayed as a
	// *net.OpError dialling ECONNREFUSED.
	ErrorCouldNotConnect = "could not connect"
	// ErrorTimeout: the attempt ran out of time (a net.Error whose Timeout is
	// true, or the attempt's deadline). Replayed as a timeout net.Error.
	ErrorTimeout = "timeout"
)

// TransportError is what a [Replayer] answers a request with whose recorded
// exchange is a transport failure (an [Exchange] with Error set). It is a
// [net.Error] (Timeout is true for [ErrorTimeout] only) and unwraps to an
// error of the recorded kind (see [ErrorConnectionClosed] and the others),
// so errors.Is(err, io.ErrUnexpectedEOF) holds for a replayed dropped
// connection. A failure of another kind (a certificate that did not
// verify, "no such host") replays as its recorded message and unwraps to
// nothing: not a network failure, as the SDK judged the original.
type TransportError struct {
	// Kind is the recorded Error: one of the Error* constants, or the
	// message of another failure.
	Kind string
	err  error
}

// Error says that the failure was recorded, and its kind.
func (e *TransportError) Error() string { return "replay: recorded transport failure: " + e.Kind }

// Unwrap returns the error of the recorded kind, or nil for another failure.
func (e *TransportError) Unwrap() error { return e.err }

// Timeout reports whether the recorded failure was a timeout.
func (e *TransportError) Timeout() bool { return e.Kind == ErrorTimeout }

// Temporary reports whether the recorded failure was a timeout (net.Error
// asks for it; it is deprecated there).
func (e *TransportError) Temporary() bool { return e.Kind == ErrorTimeout }

var _ net.Error = (*TransportError)(nil)

// replayedError builds the error a replayer returns for a recorded kind.
func replayedError(kind string) *TransportError {
	e := &TransportError{Kind: kind}
	switch kind {
	case ErrorConnectionClosed:
		e.err = io.ErrUnexpectedEOF
	case ErrorConnectionReset:
		e.err = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	case ErrorCouldNotConnect:
		e.err = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	case ErrorTimeout:
		e.err = context.DeadlineExceeded
	}
	return e
}

// errorKind classifies a transport error for the recording, as the SDK's
// retry policy does: "" when it is not recorded (the caller's context was
// canceled: whether that happens again is the replaying test's business),
// a kind constant for a network failure, else the error's message.
func errorKind(err error) string {
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		dnsErr      *net.DNSError
		opErr       *net.OpError
		netErr      net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return ""
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalidCert):
		return err.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout || dnsErr.IsTemporary {
			return ErrorCouldNotConnect
		}
		return err.Error()
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.Is(err, syscall.ECONNREFUSED):
		return ErrorCouldNotConnect
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ErrorTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrorConnectionClosed
	case errors.As(err, &opErr), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return ErrorConnectionReset
	}
	return err.Error()
}
