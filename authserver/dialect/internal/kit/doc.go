// Package kit is what every dialect's handlers share, written once: describing a request to
// the core, answering an internal error without logging secrets or a store outage per
// request, the realm's session cookie for the cookie dialects, and decoding a JSON body with
// the dialect's error shape. A dialect embeds Base in its handler.
package kit
