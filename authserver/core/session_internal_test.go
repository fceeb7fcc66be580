package core

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A client's User-Agent is kept for people to read: bounded, valid UTF-8, cut at a character,
// and with nothing that moves a terminal's columns or reorders text.
func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Firefox/128.0", "Firefox/128.0"},
		{"a\tb\nc\x1bd", "a b c d"},
		{"evil\u202Etxt.exe", "evil txt.exe"},
		{"bad\xffbyte", "badbyte"},
		{strings.Repeat("é", 200), strings.Repeat("é", 128)}, // 2 bytes each: 256 bytes
		{strings.Repeat("a", 255) + "é", strings.Repeat("a", 255)},
	} {
		got := truncateUTF8(tc.in, 256)
		if got != tc.want || !utf8.ValidString(got) || len(got) > 256 {
			t.Errorf("truncateUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
