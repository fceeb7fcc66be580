package token_test

import (
	"fmt"

	"github.com/latchauth/latch/authserver/token"
)

func Example() {
	h, err := token.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	userID, _ := token.NewID()
	sessionID, _ := token.NewID()
	secret, _ := token.New()
	issued := token.SessionToken{UserID: userID, SessionID: sessionID, Secret: secret}
	stored := h.Hash(secret) // only this goes to Redis

	presented, err := token.ParseSessionToken(issued.String())
	if err != nil {
		panic(err)
	}
	fmt.Println(token.Equal(h.Hash(presented.Secret), stored))
	// Output: true
}
