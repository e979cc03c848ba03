package kafka

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/siltlog/silt/segments/topics"
)

// DefaultTenant is the tenant a listener serves unless configured otherwise;
// it matches the single tenant of silt's HTTP APIs when auth is disabled.
const DefaultTenant = "fake"

// Config configures the Kafka listener.
//
// A listener serves exactly one tenant: Kafka clients have no tenant header,
// so to serve several tenants run one listener per tenant (a later phase adds
// SASL usernames as tenants).
type Config struct {
	ListenAddress     string `yaml:"listen_address"`
	AdvertisedAddress string `yaml:"advertised_address"`
	Tenant            string `yaml:"tenant"`
	AutoCreateTopics  bool   `yaml:"auto_create_topics"`
	MaxRequestBytes   int    `yaml:"max_request_bytes"`
	MaxConnections    int    `yaml:"max_connections"`

	GroupMinSessionTimeout time.Duration `yaml:"group_min_session_timeout"`
	GroupMaxSessionTimeout time.Duration `yaml:"group_max_session_timeout"`
}

// RegisterFlags registers the Kafka flags under -kafka.*.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.ListenAddress, "kafka.listen-address", "127.0.0.1:9092", "TCP address of the Kafka protocol listener; empty disables it.")
	f.StringVar(&c.AdvertisedAddress, "kafka.advertised-address", "", "host:port that Metadata tells clients to connect to; empty uses the bound listen address.")
	f.StringVar(&c.Tenant, "kafka.tenant", DefaultTenant, "Tenant whose topics the Kafka listener serves (one tenant per listener).")
	f.BoolVar(&c.AutoCreateTopics, "kafka.auto-create-topics", true, "Create unknown topics (with the default partition count) when a client's Metadata request allows it.")
	f.IntVar(&c.MaxRequestBytes, "kafka.max-request-bytes", 100<<20, "Largest request frame in bytes; a larger size prefix closes the connection.")
	f.IntVar(&c.MaxConnections, "kafka.max-connections", 1024, "Most concurrent client connections; more are refused.")
	f.DurationVar(&c.GroupMinSessionTimeout, "kafka.group-min-session-timeout", 6*time.Second, "Shortest consumer group session timeout a member may ask for (Kafka's group.min.session.timeout.ms).")
	f.DurationVar(&c.GroupMaxSessionTimeout, "kafka.group-max-session-timeout", 30*time.Minute, "Longest consumer group session timeout a member may ask for (Kafka's group.max.session.timeout.ms).")
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.ListenAddress == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return fmt.Errorf("kafka.listen-address %q: %w", c.ListenAddress, err)
	}
	if c.AdvertisedAddress != "" {
		if _, _, err := splitHostPort(c.AdvertisedAddress); err != nil {
			return fmt.Errorf("kafka.advertised-address %q: %w", c.AdvertisedAddress, err)
		}
	}
	if err := topics.ValidateTenantID(c.Tenant); err != nil {
		return fmt.Errorf("kafka.tenant: %w", err)
	}
	switch {
	case c.MaxRequestBytes < 1<<20:
		return errors.New("kafka.max-request-bytes must be at least 1 MiB")
	case c.MaxConnections < 1:
		return errors.New("kafka.max-connections must be at least 1")
	case c.GroupMinSessionTimeout <= 0 || c.GroupMaxSessionTimeout < c.GroupMinSessionTimeout:
		return errors.New("kafka.group-min-session-timeout must be positive and at most kafka.group-max-session-timeout")
	}
	return nil
}
