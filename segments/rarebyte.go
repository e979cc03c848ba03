package segments

import "bytes"

// byteCommonness ranks bytes by how often they occur in log text, most common
// first; bytes not listed are the rarest.
const byteCommonness = " etaoinsrlcdhump0123456789fgbyw.:-_/=kvxETAOINSRLCDHUMPFGBYWKV,[]()\"jqzXJQZ"

var byteRank = func() (r [256]int) {
	for i := range r {
		r[i] = len(byteCommonness) // rarest
	}
	for i := len(byteCommonness) - 1; i >= 0; i-- {
		r[byteCommonness[i]] = i
	}
	return r
}()

// indexRare is bytes.Index(s, needle) that scans for the needle's rarest byte
// (by byteCommonness) and checks the whole needle around each hit: a common
// first byte ('t' of "timeout") would stop a first-byte scan far more often.
func indexRare(s, needle []byte) int {
	if len(needle) < 2 || len(s) < len(needle) {
		return bytes.Index(s, needle)
	}
	k := 0
	for i := 1; i < len(needle); i++ {
		if byteRank[needle[i]] > byteRank[needle[k]] {
			k = i
		}
	}
	c, last := needle[k], len(s)-len(needle)
	for p := k; p <= last+k; {
		i := bytes.IndexByte(s[p:last+k+1], c)
		if i < 0 {
			return -1
		}
		start := p + i - k
		if bytes.Equal(s[start:start+len(needle)], needle) {
			return start
		}
		p += i + 1
	}
	return -1
}
