package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// promSamples is one scrape of a Prometheus text endpoint: every sample line.
type promSamples []promSample

type promSample struct {
	name   string
	labels string // the raw text between the braces
	value  float64
}

func scrape(ctx context.Context, url string) (promSamples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	var out promSamples
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		name, labels, _ := strings.Cut(series, "{")
		value, _, _ = strings.Cut(value, " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		out = append(out, promSample{name: name, labels: strings.TrimSuffix(labels, "}"), value: v})
	}
	return out, nil
}

// sum adds the samples of name whose labels contain every pair in match ("k", "v", ...).
func (s promSamples) sum(name string, match ...string) float64 {
	var total float64
	for _, p := range s {
		if p.name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if !strings.Contains(p.labels, match[i]+"="+strconv.Quote(match[i+1])) {
				ok = false
				break
			}
		}
		if ok {
			total += p.value
		}
	}
	return total
}

func drain(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }
