package childproc

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a Prometheus text endpoint (a child's /metrics): every sample, with
// histograms and summaries as the text shows them (name_bucket with le, name_sum,
// name_count), which is how a harness names what it reads.
type Metrics []Sample

// Sample is one line of the exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ParseMetrics reads the text exposition format. It is the Prometheus library's own parser,
// so what a test reads is what Prometheus would scrape.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	families := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		families = append(families, f)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, families...)
	if err != nil {
		return nil, err
	}
	out := make(Metrics, 0, len(vec))
	for _, s := range vec {
		labels := make(map[string]string, len(s.Metric))
		for k, v := range s.Metric {
			if k != model.MetricNameLabel {
				labels[string(k)] = string(v)
			}
		}
		out = append(out, Sample{Name: string(s.Metric[model.MetricNameLabel]), Labels: labels, Value: float64(s.Value)})
	}
	return out, nil
}

// maxScrape bounds a scrape's body: a server's whole exposition is far smaller.
const maxScrape = 16 << 20

// Scrape GETs url and parses the answer.
func Scrape(ctx context.Context, url string) (Metrics, error) {
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
	m, err := ParseMetrics(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return m, nil
}

// Sum adds the values of the samples named name whose labels include every pair of labels
// (nil: all of them), 0 if there is none: a counter summed over the labels a test does not
// care about.
func (m Metrics) Sum(name string, labels map[string]string) float64 {
	var total float64
	for _, s := range m {
		if s.Name != name || !hasLabels(s.Labels, labels) {
			continue
		}
		total += s.Value
	}
	return total
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
