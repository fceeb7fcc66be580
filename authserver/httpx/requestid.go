package httpx

import (
	"crypto/rand"
	"net/http"
)

// maxRequestIDLen bounds a request id taken from a client: it is logged with every line.
const maxRequestIDLen = 64

// requestID returns the client's X-Request-Id if it is short and made of safe characters (it
// goes into logs and back into a response header), otherwise a fresh random one, so a
// proxy's id follows the request through and a hostile one cannot forge log lines.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
		return id
	}
	return rand.Text()
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
