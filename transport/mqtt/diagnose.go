package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"strings"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// diagnosis is the meaning of a failed connection attempt for the user.
type diagnosis struct {
	hint string // the settings to check, or "" when the broker may simply be down
	// fatal means the same settings will fail the same way, so the first
	// connection gives up at once rather than retrying.
	fatal bool
}

// diagnose explains err, an attempt to connect to server that failed.
func diagnose(err error, server string) diagnosis {
	tlsURL := strings.HasPrefix(server, "ssl://")
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return diagnosis{fatal: true, hint: "the broker rejected this client: check --username and the password " +
			"(MQCLUSTER_PASSWORD or --password-file), or --cert and --key; a node's user name must be its node id"}
	case errors.As(err, &unknownAuthority):
		return diagnosis{fatal: true, hint: "the broker's certificate is not signed by a trusted authority: " +
			"give --ca with the cluster's ca.pem"}
	case errors.As(err, &hostname):
		return diagnosis{fatal: true, hint: "the broker's certificate does not name the host of the broker URL: " +
			"connect with a name the certificate has, or make the certificate with that --host"}
	case errors.As(err, &invalid), errors.As(err, &verify):
		return diagnosis{fatal: true, hint: "the broker's certificate is not valid (expired, or not for a server): " +
			"make a new one with mqcluster certs init"}
	case errors.As(err, &header), tlsURL && strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return diagnosis{fatal: true, hint: "the broker does not speak TLS on this port: use tcp:// for a plain port"}
	case tlsURL && strings.Contains(err.Error(), "remote error: tls:"):
		return diagnosis{fatal: true, hint: "the broker rejected the TLS handshake: if it requires a client " +
			"certificate, check --cert and --key and that the broker trusts their authority"}
	case tlsURL && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return diagnosis{hint: "the broker closed the connection during the TLS handshake: " +
			"if this port serves plain MQTT, use tcp://"}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return diagnosis{hint: "the broker closed the connection before accepting it: if this port serves TLS, " +
			"use ssl:// with --ca; a broker also does so when an address has too many connections"}
	}
	return diagnosis{}
}
