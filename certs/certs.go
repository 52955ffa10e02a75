// Package certs makes the certificates of a secured cluster: a small
// certificate authority, a server certificate for the broker and the API,
// and client certificates for mutual TLS. A client certificate names its
// identity in the common name (a node id, or the coordinator's name) and its
// role in the organizational unit, which the embedded broker reads.
//
// Keys are ECDSA P-256, which Go, OpenSSL and the ESP32's mbedTLS all
// accept.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// Roles a client certificate can carry.
const (
	RoleNode        = "node"
	RoleCoordinator = "coordinator"
)

// Authority is a certificate authority that signs the cluster's
// certificates.
type Authority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// NewAuthority makes a self-signed authority named name, valid until
// notAfter.
func NewAuthority(name string, notAfter time.Time) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := template(name, "", notAfter)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Authority{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der)}, nil
}

// LoadAuthority reads an authority's certificate and key from PEM files.
func LoadAuthority(certFile, keyFile string) (*Authority, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: not a certificate authority", certFile)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s is not the key of %s", keyFile, certFile)
	}
	return &Authority{cert: cert, key: key, certPEM: certPEM}, nil
}

// CertPEM returns the authority's certificate, which clients and the broker
// trust.
func (a *Authority) CertPEM() []byte { return a.certPEM }

// KeyPEM returns the authority's private key.
func (a *Authority) KeyPEM() ([]byte, error) { return keyPEM(a.key) }

// Server makes a certificate for a server reachable at hosts, each a DNS
// name or an IP address, valid until notAfter.
func (a *Authority) Server(hosts []string, notAfter time.Time) (cert, key []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("a server certificate needs at least one host name or address")
	}
	tmpl, err := template(hosts[0], "", notAfter)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return a.sign(tmpl)
}

// Client makes a client certificate for identity name with role, valid
// until notAfter. A notAfter in the past makes an expired certificate,
// which tests use.
func (a *Authority) Client(name, role string, notAfter time.Time) (cert, key []byte, err error) {
	if role != RoleNode && role != RoleCoordinator {
		return nil, nil, fmt.Errorf("role %q is not %q or %q", role, RoleNode, RoleCoordinator)
	}
	tmpl, err := template(name, role, notAfter)
	if err != nil {
		return nil, nil, err
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return a.sign(tmpl)
}

func (a *Authority) sign(tmpl *x509.Certificate) (cert, key []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &priv.PublicKey, a.key)
	if err != nil {
		return nil, nil, err
	}
	keyOut, err := keyPEM(priv)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), keyOut, nil
}

// template returns a certificate template for name, valid from an hour
// before now (or before notAfter, if that is earlier), so that a clock a
// little behind still accepts it.
func template(name, role string, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: name, Organization: []string{"mqcluster"}}
	if role != "" {
		subject.OrganizationalUnit = []string{role}
	}
	notBefore := time.Now().Add(-time.Hour)
	if notAfter.Before(notBefore) {
		notBefore = notAfter.Add(-time.Hour)
	}
	return &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: notBefore, NotAfter: notAfter}, nil
}

// Identity returns the name and role a verified client certificate carries.
func Identity(cert *x509.Certificate) (name, role string) {
	if len(cert.Subject.OrganizationalUnit) > 0 {
		role = cert.Subject.OrganizationalUnit[0]
	}
	return cert.Subject.CommonName, role
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

func parseKey(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		if ec, ok := k.(*ecdsa.PrivateKey); ok {
			return ec, nil
		}
	}
	return nil, fmt.Errorf("a %s is not an ECDSA key", block.Type)
}
