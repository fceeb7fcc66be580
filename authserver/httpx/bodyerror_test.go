package httpx_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchauth/latch/authserver/httpx"
)

// A refused body is answered with its status and reason in the dialect's shape; only a body
// too slow or too large also ends the connection.
func TestWriteBodyError(t *testing.T) {
	for _, tc := range []struct {
		err       error
		status    int
		closeConn bool
	}{
		{fmt.Errorf("%w: field login", httpx.ErrMalformed), http.StatusBadRequest, false},
		{httpx.ErrBodyTooLarge, http.StatusRequestEntityTooLarge, true},
		{httpx.ErrBodyTimeout, http.StatusRequestTimeout, true},
	} {
		rec := httptest.NewRecorder()
		var gotStatus int
		var gotMsg string
		httpx.WriteBodyError(rec, httptest.NewRequest(http.MethodPost, "/", nil), tc.err,
			func(w http.ResponseWriter, _ *http.Request, status int, msg string) {
				gotStatus, gotMsg = status, msg
				w.WriteHeader(status)
			})
		if gotStatus != tc.status || gotMsg != tc.err.Error() {
			t.Errorf("%v: wrote %d %q, want %d %q", tc.err, gotStatus, gotMsg, tc.status, tc.err.Error())
		}
		if closed := rec.Header().Get("Connection") == "close"; closed != tc.closeConn {
			t.Errorf("%v: Connection: close = %v, want %v", tc.err, closed, tc.closeConn)
		}
	}
}
