package config

import (
	"strings"
	"testing"
)

func minimal() *Config {
	c := &Config{TokenHashKey: Secret{Env: "K"}, Protocols: Protocols{Account: &Account{}}}
	c.Default()
	return c
}

func TestMaxHeaderBytes(t *testing.T) {
	c := minimal()
	if c.Listen.MaxHeaderBytes != 32<<10 {
		t.Errorf("default listen.maxHeaderBytes = %d, want 32768", c.Listen.MaxHeaderBytes)
	}
	for v, ok := range map[int]bool{4096: true, 1 << 20: true, 4095: false, 1<<20 + 1: false} {
		c.Listen.MaxHeaderBytes = v
		if err := c.Validate(); (err == nil) != ok || (!ok && !strings.Contains(err.Error(), "listen.maxHeaderBytes")) {
			t.Errorf("maxHeaderBytes %d: Validate = %v", v, err)
		}
	}
}

// Port 0 on both listeners is how tests ask for two free ports.
func TestListenPortZeroTwice(t *testing.T) {
	c := minimal()
	c.Listen.Public, c.Listen.Admin = "127.0.0.1:0", "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	c.Listen.Public, c.Listen.Admin = "127.0.0.1:8080", "127.0.0.1:8080"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "listen.admin") {
		t.Errorf("Validate of one address twice = %v", err)
	}
}

func TestAllowedOrigins(t *testing.T) {
	for origin, ok := range map[string]bool{
		"https://app.example.com":      true,
		"http://localhost:3000":        true,
		"https://[::1]:8443":           true,
		"https://app.example.com/":     false,
		"https://app.example.com/path": false,
		"app.example.com":              false,
		"*":                            false,
		"ftp://app.example.com":        false,
		"https://user@app.example.com": false,
		"https://app.example.com?x=1":  false,
		"https://app.example.com#frag": false,
		"https://app.example.com\t":    false,
	} {
		c := minimal()
		c.AllowedOrigins = []string{"https://ok.example", origin}
		err := c.Validate()
		if (err == nil) != ok || (!ok && !strings.Contains(err.Error(), "allowedOrigins[1]")) {
			t.Errorf("origin %q: Validate = %v, want ok=%v", origin, err, ok)
		}
	}
}
