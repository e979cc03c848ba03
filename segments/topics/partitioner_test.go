package topics

import (
	"fmt"
	"testing"
)

// Vectors from Apache Kafka's UtilsTest.testMurmur2.
func TestMurmur2MatchesKafka(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := murmur2([]byte(tc.in)); got != tc.want {
				t.Errorf("murmur2(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name     string
		explicit int
		key      string
		n, rr    int
		want     int
	}{
		{"explicit wins over key", 2, "foobar", 4, 0, 2},
		// toPositive(-790332482) = 1357151166; % 4 = 2, % 7 = 0.
		{"key hash mod 4", -1, "foobar", 4, 0, 2},
		{"key hash mod 7", -1, "foobar", 7, 3, 0},
		{"no key uses round robin", -1, "", 4, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Choose(tc.explicit, []byte(tc.key), tc.n, tc.rr); got != tc.want {
				t.Errorf("Choose = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPickerRotatesPerTopic(t *testing.T) {
	p := NewPicker()
	var got []string
	for range 4 {
		got = append(got, fmt.Sprint(p.Next("t1", "a", 3)))
	}
	got = append(got, fmt.Sprint(p.Next("t1", "b", 3)), fmt.Sprint(p.Next("t2", "a", 3)))
	if want := "[0 1 2 0 0 0]"; fmt.Sprint(got) != want {
		t.Errorf("sequence = %v, want %v", got, want)
	}
}
