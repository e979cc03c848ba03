package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

// newLogger returns the process logger; cfg has been validated.
func newLogger(cfg ServerConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// gokitLogger adapts slog for dskit, which logs through go-kit. dskit passes
// its level as a "level" key (go-kit/log/level) and the message as "msg".
type gokitLogger struct{ l *slog.Logger }

func (g gokitLogger) Log(keyvals ...any) error {
	level, msg := slog.LevelInfo, ""
	attrs := make([]any, 0, len(keyvals))
	for i := 0; i+1 < len(keyvals); i += 2 {
		k, _ := keyvals[i].(string)
		switch k {
		case "level":
			_ = level.UnmarshalText([]byte(strings.ToUpper(toString(keyvals[i+1]))))
		case "msg":
			msg = toString(keyvals[i+1])
		default:
			attrs = append(attrs, k, keyvals[i+1])
		}
	}
	g.l.Log(context.Background(), level, msg, attrs...)
	return nil
}

func toString(v any) string {
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
