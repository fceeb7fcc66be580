package config

import (
	"strings"
	"testing"
	"time"
)

func TestDeviseTokenPasswordChange(t *testing.T) {
	c := minimal()
	c.Protocols.DeviseToken = &DeviseToken{}
	c.Default()
	if d := c.Protocols.DeviseToken; d.AllowPasswordChangeFor.Duration != 15*time.Minute || d.CurrentPasswordOptional {
		t.Errorf("defaults: allowPasswordChangeFor %s, currentPasswordOptional %t; want 15m, false", d.AllowPasswordChangeFor.Duration, d.CurrentPasswordOptional)
	}
	for d, ok := range map[time.Duration]bool{time.Second: true, 24 * time.Hour: true, -time.Second: false, 24*time.Hour + 1: false} {
		c.Protocols.DeviseToken.AllowPasswordChangeFor = D(d)
		if err := c.Validate(); (err == nil) != ok || (!ok && !strings.Contains(err.Error(), "protocols.deviseToken.allowPasswordChangeFor")) {
			t.Errorf("allowPasswordChangeFor %s: Validate = %v", d, err)
		}
	}
}
