package e2e

import (
	"encoding/binary"
	"hash/crc32"
)

// chunk encodes one PNG chunk: length, type, data, CRC of type and data.
func chunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}
