package imagejob

import (
	"bytes"
	"image/color"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseMethod(t *testing.T) {
	tests := []struct {
		in      string
		want    Method
		wantErr string
	}{
		{in: "luma", want: Luma},
		{in: "bt601", want: Luma},
		{in: "LUMA", want: Luma},
		{in: "average", want: Average},
		{in: "Average", want: Average},
		{in: "", wantErr: `invalid method "": expected luma (or bt601) or average`},
		{in: "avg", wantErr: `invalid method "avg": expected luma (or bt601) or average`},
	}
	for _, tt := range tests {
		got, err := ParseMethod(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseMethod(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMethod(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestMethodString(t *testing.T) {
	for m, want := range map[Method]string{Luma: "luma", Average: "average", 7: "Method(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
	for _, m := range []Method{Luma, Average} {
		if parsed, err := ParseMethod(m.String()); err != nil || parsed != m {
			t.Errorf("ParseMethod(%q) = %v, %v, want %v", m.String(), parsed, err, m)
		}
	}
}

// grayOf8 converts one pixel with GrayTile at depth 8.
func grayOf8(t testing.TB, m Method, r, g, b uint8) uint8 {
	t.Helper()
	out := make([]byte, 1)
	if err := GrayTile(m, 8, []byte{r, g, b}, out); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// grayOf16 converts one pixel with GrayTile at depth 16.
func grayOf16(t testing.TB, m Method, r, g, b uint16) uint16 {
	t.Helper()
	in := []byte{byte(r >> 8), byte(r), byte(g >> 8), byte(g), byte(b >> 8), byte(b)}
	out := make([]byte, 2)
	if err := GrayTile(m, 16, in, out); err != nil {
		t.Fatal(err)
	}
	return get16(out)
}

func TestGrayTileKnownValues(t *testing.T) {
	tests := []struct {
		name    string
		m       Method
		r, g, b uint16
		want8   uint8 // from the 8-bit samples r>>8, g>>8, b>>8
		want16  uint16
	}{
		// 19595*255*257 = 1284158325, plus 32768, shifted right by 24 is 76.
		{"luma red", Luma, 0xffff, 0, 0, 76, 19595},
		{"luma green", Luma, 0, 0xffff, 0, 150, 38469},
		{"luma blue", Luma, 0, 0, 0xffff, 29, 7471},
		{"luma white", Luma, 0xffff, 0xffff, 0xffff, 255, 0xffff},
		{"luma black", Luma, 0, 0, 0, 0, 0},
		{"average red", Average, 0xffff, 0, 0, 85, 21845},
		{"average mixed", Average, 0x0100, 0x0200, 0x0400, 2, 0x0255},
		{"average rounds down", Average, 0x0100, 0x0100, 0, 0, 0x00aa},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := grayOf8(t, tt.m, uint8(tt.r>>8), uint8(tt.g>>8), uint8(tt.b>>8)); got != tt.want8 {
				t.Errorf("depth 8: got %d, want %d", got, tt.want8)
			}
			if got := grayOf16(t, tt.m, tt.r, tt.g, tt.b); got != tt.want16 {
				t.Errorf("depth 16: got %d, want %d", got, tt.want16)
			}
		})
	}
}

func TestLuma8MatchesGrayModelForAllColors(t *testing.T) {
	rgb := make([]byte, 3*256)
	gray := make([]byte, 256)
	for r := range 256 {
		for g := range 256 {
			for b := range 256 {
				rgb[3*b], rgb[3*b+1], rgb[3*b+2] = byte(r), byte(g), byte(b)
			}
			if err := GrayTile(Luma, 8, rgb, gray); err != nil {
				t.Fatal(err)
			}
			for b := range 256 {
				c := color.NRGBA{R: uint8(r), G: uint8(g), B: uint8(b), A: 0xff}
				want := color.GrayModel.Convert(c).(color.Gray).Y
				if gray[b] != want {
					t.Fatalf("luma of %v = %d, color.GrayModel gives %d", c, gray[b], want)
				}
			}
		}
	}
}

func TestLuma16MatchesGray16Model(t *testing.T) {
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(3, 4))
	rgb := make([]byte, 6*n)
	randomBytes(rng, rgb)
	// The extremes, where an overflow would show, come first.
	copy(rgb, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0})
	gray := make([]byte, 2*n)
	if err := GrayTile(Luma, 16, rgb, gray); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c := color.NRGBA64{R: get16(rgb[6*i:]), G: get16(rgb[6*i+2:]), B: get16(rgb[6*i+4:]), A: 0xffff}
		want := color.Gray16Model.Convert(c).(color.Gray16).Y
		if got := get16(gray[2*i:]); got != want {
			t.Fatalf("luma of %v = %d, color.Gray16Model gives %d", c, got, want)
		}
	}
}

func TestGrayInputUnchanged(t *testing.T) {
	for _, m := range []Method{Luma, Average} {
		for v := range 256 {
			if got := grayOf8(t, m, uint8(v), uint8(v), uint8(v)); got != uint8(v) {
				t.Fatalf("%v of gray %d at depth 8 = %d", m, v, got)
			}
		}
		for v := range 1 << 16 {
			if got := grayOf16(t, m, uint16(v), uint16(v), uint16(v)); got != uint16(v) {
				t.Fatalf("%v of gray %d at depth 16 = %d", m, v, got)
			}
		}
	}
}

func TestGrayTileRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name      string
		m         Method
		depth     int
		rgb, gray []byte
		wantErr   string
	}{
		{"method", 2, 8, make([]byte, 3), make([]byte, 1), "invalid method 2: expected 0 (luma) or 1 (average)"},
		{"depth", Luma, 12, make([]byte, 3), make([]byte, 1), "invalid depth 12: expected 8 or 16"},
		{"short rgb", Luma, 8, make([]byte, 2), make([]byte, 1), "RGB is 2 bytes and gray is 1 bytes at depth 8"},
		{"odd 16-bit gray", Average, 16, make([]byte, 3), make([]byte, 1), "RGB is 3 bytes and gray is 1 bytes at depth 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := GrayTile(tt.m, tt.depth, tt.rgb, tt.gray)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if err := GrayTile(Luma, 8, nil, nil); err != nil {
		t.Errorf("empty buffers: %v", err)
	}
}

// TestLumaDiffersFromPillowAndOpenCV measures how far Luma at depth 8 is
// from the 8-bit gray conversions of Pillow and OpenCV, for the figures in
// the Method documentation. It logs and does not fail on the counts.
func TestLumaDiffersFromPillowAndOpenCV(t *testing.T) {
	others := []struct {
		name    string
		convert func(r, g, b uint32) uint32
	}{
		{"Pillow", func(r, g, b uint32) uint32 { return (19595*r + 38470*g + 7471*b + 0x8000) >> 16 }},
		{"OpenCV", func(r, g, b uint32) uint32 { return (9798*r + 19235*g + 3735*b + 16384) >> 15 }},
	}
	for _, other := range others {
		var darker, brighter, larger int
		for c := range 1 << 24 {
			r, g, b := uint32(c>>16), uint32(c>>8)&0xff, uint32(c)&0xff
			ours := int((19595*257*r + 38470*257*g + 7471*257*b + 1<<15) >> 24)
			switch theirs := int(other.convert(r, g, b)); {
			case ours == theirs-1:
				darker++
			case ours == theirs+1:
				brighter++
			case ours != theirs:
				larger++
			}
		}
		t.Logf("%s: Luma differs for %d of 2^24 colors (%.1f%%): %d one level darker, %d one level brighter, %d by more",
			other.name, darker+brighter+larger, 100*float64(darker+brighter+larger)/(1<<24), darker, brighter, larger)
	}
}

func TestLumaReferenceFormulaMatchesKernel(t *testing.T) {
	// The Pillow comparison above restates the 8-bit Luma formula, so check
	// that the restatement is the kernel on a sample of colors.
	rng := rand.New(rand.NewPCG(7, 8))
	rgb := make([]byte, 3*4096)
	randomBytes(rng, rgb)
	gray := make([]byte, 4096)
	if err := GrayTile(Luma, 8, rgb, gray); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, len(gray))
	for i := range want {
		r, g, b := uint32(rgb[3*i]), uint32(rgb[3*i+1]), uint32(rgb[3*i+2])
		want[i] = byte((19595*257*r + 38470*257*g + 7471*257*b + 1<<15) >> 24)
	}
	if !bytes.Equal(gray, want) {
		t.Errorf("the documented formula and the kernel disagree")
	}
}

func BenchmarkGrayLuma8(b *testing.B) {
	const pixels = 1 << 20
	rgb := make([]byte, 3*pixels)
	randomBytes(rand.New(rand.NewPCG(5, 6)), rgb)
	gray := make([]byte, pixels)
	b.SetBytes(int64(len(rgb)))
	for b.Loop() {
		if err := GrayTile(Luma, 8, rgb, gray); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGrayLuma16(b *testing.B) {
	const pixels = 1 << 20
	rgb := make([]byte, 6*pixels)
	randomBytes(rand.New(rand.NewPCG(5, 6)), rgb)
	gray := make([]byte, 2*pixels)
	b.SetBytes(int64(len(rgb)))
	for b.Loop() {
		if err := GrayTile(Luma, 16, rgb, gray); err != nil {
			b.Fatal(err)
		}
	}
}
