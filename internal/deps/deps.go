//go:build deps

// Package deps pins modules that packages under construction will import; removed when they do.
package deps
import (
 _ "github.com/urfave/cli/v2"
 _ "github.com/eclipse/paho.mqtt.golang"
 _ "github.com/zalando/go-keyring"
 _ "github.com/charmbracelet/lipgloss"
 _ "github.com/charmbracelet/lipgloss/table"
 _ "github.com/mochi-mqtt/server/v2"
 _ "github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
 _ "github.com/mochi-mqtt/server/v2/hooks/auth"
 _ "github.com/mochi-mqtt/server/v2/listeners"
 _ "github.com/fxamacker/cbor/v2"
 _ "github.com/rogpeppe/go-internal/testscript"
 _ "golang.org/x/term"
)
