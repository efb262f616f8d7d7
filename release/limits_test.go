package release

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func sizedManifest(size int64) *Manifest {
	m := &Manifest{SequenceNumber: 5, Components: []Component{{
		Package: "main", Version: "1.0.0", Hash: strings.Repeat("cd", 32), Size: size, URI: ComponentURI("main", "1.0.0"),
	}}}
	m.Seal()
	return m
}

// TestComponentSizeLimit: a component MQTT cannot carry in one message is
// invalid, so verify fails (ErrVerification) and sign refuses it.
func TestComponentSizeLimit(t *testing.T) {
	if MaxComponentSize != 268365455 {
		t.Fatalf("MaxComponentSize = %d: docs/protocol.md names 268365455", MaxComponentSize)
	}
	signer := loadSigner(t, "vector-ed25519.pem")
	for _, size := range []int64{0, 1, MaxComponentSize} {
		m := sizedManifest(size)
		if err := m.Validate(); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
		if err := m.Sign(signer); err != nil {
			t.Errorf("sign size %d: %v", size, err)
		}
	}
	for _, size := range []int64{MaxComponentSize + 1, mqttMaxRemaining, 1 << 62} {
		m := sizedManifest(size)
		want := "size " + strconv.FormatInt(size, 10) + " is more than 268365455 bytes"
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate size %d = %v", size, err)
		}
		if err := m.Sign(signer); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Sign size %d = %v", size, err)
		}
		v := Verify(context.Background(), m, VerifyOptions{})
		if v.OK || !errors.Is(v.Err(), ErrVerification) || !strings.Contains(v.Err().Error(), want) {
			t.Errorf("Verify size %d: %+v", size, v)
		}
	}
}
