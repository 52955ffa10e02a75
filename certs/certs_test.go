package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertificatesVerify(t *testing.T) {
	ca, err := NewAuthority("test CA", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())

	serverPEM, serverKey, err := ca.Server([]string{"broker.lan", "127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(serverPEM, serverKey); err != nil {
		t.Errorf("server pair: %v", err)
	}
	server := parse(t, serverPEM)
	for _, host := range []string{"broker.lan", "127.0.0.1"} {
		if _, err := server.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := server.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.lan"}); err == nil {
		t.Error("server certificate verified for a host it does not name")
	}

	clientPEM, _, err := ca.Client("a4:cf:12:0b:3e:01", RoleNode, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	client := parse(t, clientPEM)
	clientAuth := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := client.Verify(clientAuth); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if name, role := Identity(client); name != "a4:cf:12:0b:3e:01" || role != RoleNode {
		t.Errorf("identity %q, role %q", name, role)
	}

	expiredPEM, _, err := ca.Client("old", RoleNode, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, expiredPEM).Verify(clientAuth); err == nil {
		t.Error("an expired client certificate verified")
	}
	if _, _, err := ca.Client("x", "admin", time.Now().Add(time.Hour)); err == nil {
		t.Error("a client certificate with an unknown role was made")
	}
}

func TestLoadAuthority(t *testing.T) {
	ca, err := NewAuthority("test CA", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	key, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, ca.CertPEM(), 0o600)
	os.WriteFile(keyFile, key, 0o600)
	loaded, err := LoadAuthority(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, _, err := loaded.Client("n1", RoleNode, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())
	if _, err := parse(t, clientPEM).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate signed by the loaded authority: %v", err)
	}

	other, _ := NewAuthority("other CA", time.Now().Add(time.Hour))
	otherKey, _ := other.KeyPEM()
	os.WriteFile(keyFile, otherKey, 0o600)
	if _, err := LoadAuthority(certFile, keyFile); err == nil {
		t.Error("an authority loaded with another authority's key")
	}
}
