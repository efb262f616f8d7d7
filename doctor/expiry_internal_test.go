package doctor

import (
	"context"
	"reflect"
	"testing"
)

// sysTopics is a SysReader of fixed retained $SYS messages.
type sysTopics map[string]string

func (s sysTopics) ReadRetainedAll(_ context.Context, filter string, fn func(string, []byte)) error {
	if filter != "$SYS/#" {
		panic(filter)
	}
	for t, p := range s {
		fn(t, []byte(p))
	}
	return nil
}

// TestSysExpiry: the expiry of retained messages or of messages is found
// in $SYS, that of clients and sessions is not.
func TestSysExpiry(t *testing.T) {
	got, err := sysExpiry(context.Background(), sysTopics{
		"$SYS/broker/clients/expired":                 "0",
		"$SYS/broker/version":                         "mosquitto version 2.0.11",
		"$SYS/broker/retained/expiry":                 "86400",
		"$SYS/brokers/n1/config/message_expiry_limit": "3600\n",
		"$SYS/broker/sessions/expiry-interval":        "7200",
	})
	want := []string{"$SYS/broker/retained/expiry = 86400", "$SYS/brokers/n1/config/message_expiry_limit = 3600"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q, %v", got, err)
	}
}
