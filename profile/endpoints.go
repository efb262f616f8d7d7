package profile

import (
	"fmt"
	"strings"

	"github.com/otactl/otactl/upload"
)

// VerifyBrokersEnv names the environment variable that lists the other
// broker endpoints, comma-separated, when --verify-broker is not given.
const VerifyBrokersEnv = "OTACTL_VERIFY_BROKERS"

// checkVerifyBroker checks one verify-brokers URL as Set and Check do: a
// broker URL without credentials, which are never kept in a URL.
func checkVerifyBroker(v string) error {
	if strings.Contains(v, "@") {
		return fmt.Errorf("credentials in the URL are not accepted: every endpoint uses the connection's user name and password")
	}
	_, err := BrokerURL(v)
	return err
}

// addVerifyBrokers adds the comma-separated URLs of value to the
// verify-brokers setting, each once.
func (p *Profile) addVerifyBrokers(value string) error {
	urls := SplitBrokers(value)
	if len(urls) == 0 {
		return &SettingError{Key: "verify-brokers", Value: value, Reason: "no URL given: use mqtt://HOST:PORT, several separated by commas"}
	}
	for _, u := range urls {
		if err := checkVerifyBroker(u); err != nil {
			return &SettingError{Key: "verify-brokers", Value: u, Reason: err.Error(), hide: true}
		}
		if !contains(p.VerifyBrokers, u) {
			p.VerifyBrokers = append(p.VerifyBrokers, u)
		}
	}
	return nil
}

// SplitBrokers splits a comma-separated list of broker URLs, dropping
// empty entries and spaces around each.
func SplitBrokers(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// verifyBrokers picks the other endpoints: --verify-broker (repeatable),
// else OTACTL_VERIFY_BROKERS, else the profile's verify-brokers unless a
// broker from flag or environment replaced the profile's connection. Each
// is normalised (BrokerURL) and kept once; the connection's own broker is
// left out, as it is always an endpoint.
func (r *resolver) verifyBrokers(cn *Connection, p *Profile) error {
	from, list := "profile", p.VerifyBrokers
	switch {
	case r.flags.Given["verify-broker"]:
		from, list = "--verify-broker", r.flags.VerifyBrokers
	case r.getenv(VerifyBrokersEnv) != "":
		from, list = VerifyBrokersEnv, SplitBrokers(r.getenv(VerifyBrokersEnv))
	case r.flags.Given["broker"] || r.getenv("OTACTL_BROKER") != "":
		list = nil
	}
	seen := map[string]bool{cn.Options.Broker: true}
	for _, raw := range list {
		if err := checkVerifyBroker(raw); err != nil {
			err = fmt.Errorf("%s: verify broker: %w", from, err)
			if from == "--verify-broker" {
				return &FlagError{Err: err}
			}
			return err
		}
		u, _ := BrokerURL(raw) // checked
		if !seen[u.String()] {
			seen[u.String()] = true
			cn.VerifyBrokers = append(cn.VerifyBrokers, u.String())
		}
	}
	return nil
}

// Endpoints are every broker endpoint devices use, the connection's own
// broker first, then each of VerifyBrokers. The others are reached with
// the connection's settings (user name, password once filled in, TLS
// files, topic prefix, timeouts) and a client id of their own.
func (cn *Connection) Endpoints() []upload.Options {
	out := []upload.Options{cn.Options}
	for _, b := range cn.VerifyBrokers {
		o := cn.Options
		o.Broker = b
		if o.ClientID != "" {
			o.ClientID += fmt.Sprintf("-v%d", len(out))
		}
		o.Progress = nil
		out = append(out, o)
	}
	return out
}
