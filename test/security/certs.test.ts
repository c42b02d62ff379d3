import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { ensureClusterCerts } from '../../src/security/cluster-certs.js';
import { CertificateError, commonNameOf, createCa, issueCertificate, readTlsDir, type TlsMaterial } from '../../src/security/certs.js';

const root = mkdtempSync(path.join(tmpdir(), 'tsraft-certs-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Mutual TLS between two material sets; resolves with what each side saw, or the error. */
function handshake(server: TlsMaterial, client: TlsMaterial): Promise<{ serverSaw: string | undefined; clientSaw: string | undefined } | Error> {
  return new Promise((resolve) => {
    let serverSaw: string | undefined;
    const srv = tls.createServer({ ca: server.ca, cert: server.cert, key: server.key, requestCert: true, rejectUnauthorized: true }, (s) => {
      serverSaw = s.getPeerCertificate().subject?.CN as string | undefined;
      s.end();
    });
    srv.on('tlsClientError', () => undefined);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const c = tls.connect({ host: '127.0.0.1', port, ca: client.ca, cert: client.cert, key: client.key, servername: 'localhost' }, () => {
        const clientSaw = c.getPeerCertificate().subject?.CN as string | undefined;
        c.on('close', () => srv.close(() => resolve({ serverSaw, clientSaw })));
        c.resume();
      });
      c.on('error', (e) => srv.close(() => resolve(e)));
    });
  });
}

test('a CA signs member certificates that authenticate both ends of a TLS connection by name', async () => {
  const ca = path.join(root, 'ca');
  await createCa(ca);
  assert.equal(statSync(path.join(ca, 'ca.key')).mode & 0o777, 0o600, 'the CA key is private');
  await issueCertificate({ caDir: ca, name: 'n1', outDir: path.join(root, 'n1') });
  await issueCertificate({ caDir: ca, name: 'n2', outDir: path.join(root, 'n2'), hosts: ['10.0.0.2', 'node2.example'] });
  assert.equal(statSync(path.join(root, 'n1', 'node.key')).mode & 0o777, 0o600, 'node keys are private');
  const n1 = await readTlsDir(path.join(root, 'n1'));
  const n2 = await readTlsDir(path.join(root, 'n2'));
  assert.equal(n1.name, 'n1');
  assert.equal(commonNameOf(n2.cert), 'n2');
  const r = await handshake(n1, n2);
  assert.deepEqual(r, { serverSaw: 'n2', clientSaw: 'n1' });
});

test('a certificate of another CA is refused at the handshake, both ways', async () => {
  await createCa(path.join(root, 'other-ca'));
  await issueCertificate({ caDir: path.join(root, 'other-ca'), name: 'n1', outDir: path.join(root, 'rogue') });
  await issueCertificate({ caDir: path.join(root, 'ca'), name: 'n3', outDir: path.join(root, 'n3') });
  const rogue = await readTlsDir(path.join(root, 'rogue'));
  const n3 = await readTlsDir(path.join(root, 'n3'));
  assert.ok((await handshake(n3, rogue)) instanceof Error, 'a server refuses a client certificate of another CA');
  assert.ok((await handshake(rogue, n3)) instanceof Error, 'a client refuses a server certificate of another CA');
});

test('createCa never replaces an existing CA; bad directories give CertificateError naming the file', async () => {
  await assert.rejects(createCa(path.join(root, 'ca')), CertificateError);
  await assert.rejects(readTlsDir(path.join(root, 'nowhere')), (e: unknown) => e instanceof CertificateError && /nowhere.*ca\.pem/.test(e.message));
  await assert.rejects(issueCertificate({ caDir: path.join(root, 'ca'), name: 'bad name', outDir: path.join(root, 'x') }), CertificateError);
  const mixed = path.join(root, 'mixed');
  await issueCertificate({ caDir: path.join(root, 'ca'), name: 'n4', outDir: mixed });
  writeFileSync(path.join(mixed, 'ca.pem'), (await readTlsDir(path.join(root, 'rogue'))).ca);
  await assert.rejects(readTlsDir(mixed), (e: unknown) => e instanceof CertificateError && /not by the CA/.test(e.message));
});

test('ensureClusterCerts creates a CA and member certificates once, and reuses them on restart', async () => {
  const data = path.join(root, 'cluster');
  const p = await ensureClusterCerts(data, ['n1', 'n2']);
  const first = (await readTlsDir(p.tlsDir('n1'))).cert.toString();
  const again = await ensureClusterCerts(data, ['n1', 'n2', 'n3']);
  assert.equal((await readTlsDir(again.tlsDir('n1'))).cert.toString(), first, 'a restart keeps existing certificates');
  assert.equal((await readTlsDir(again.tlsDir('n3'))).name, 'n3', 'a new member gets one');
  assert.equal(readFileSync(again.caFile, 'utf8'), readFileSync(path.join(again.caDir, 'ca.pem'), 'utf8'));
});

test('CA rotation: a ca.pem holding the old and the new CA lets members of either CA authenticate each other', async () => {
  const oldCa = path.join(root, 'rot-old');
  const newCa = path.join(root, 'rot-new');
  await createCa(oldCa);
  await createCa(newCa);
  await issueCertificate({ caDir: oldCa, name: 'r1', outDir: path.join(root, 'r1') });
  await issueCertificate({ caDir: newCa, name: 'r2', outDir: path.join(root, 'r2') });
  const bundle = readFileSync(path.join(oldCa, 'ca.pem'), 'utf8') + readFileSync(path.join(newCa, 'ca.pem'), 'utf8');
  // With only its own CA, each refuses the other.
  assert.ok((await handshake(await readTlsDir(path.join(root, 'r1')), await readTlsDir(path.join(root, 'r2')))) instanceof Error);
  for (const n of ['r1', 'r2']) writeFileSync(path.join(root, n, 'ca.pem'), bundle);
  const r1 = await readTlsDir(path.join(root, 'r1'));
  const r2 = await readTlsDir(path.join(root, 'r2'));
  assert.deepEqual(await handshake(r1, r2), { serverSaw: 'r2', clientSaw: 'r1' });
  assert.deepEqual(await handshake(r2, r1), { serverSaw: 'r1', clientSaw: 'r2' });
});
