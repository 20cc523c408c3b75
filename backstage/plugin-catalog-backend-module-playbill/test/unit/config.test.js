// How `catalog.providers.playbill.<id>` becomes a connection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectionFromConfig, inCluster } from '../../src/kube.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'playbill-provider-config-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** The part of Backstage's Config the module reads. */
const config = (o) => ({
  getOptionalString: (k) => o[k],
  getOptionalBoolean: (k) => o[k],
});

const kubeconfig = `
apiVersion: v1
kind: Config
current-context: a
clusters:
  - name: ca
    cluster: {server: https://a.example:6443, certificate-authority-data: ${Buffer.from('CA-A').toString('base64')}}
  - name: cb
    cluster: {server: https://b.example:6443, insecure-skip-tls-verify: true}
users:
  - name: ua
    user: {client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')}}
  - name: ub
    user: {token: secret-b}
  - name: uexec
    user: {exec: {command: aws}}
contexts:
  - name: a
    context: {cluster: ca, user: ua}
  - name: b
    context: {cluster: cb, user: ub}
  - name: e
    context: {cluster: ca, user: uexec}
`;

test('a kubeconfig: its current context, or the one named', () => {
  const file = path.join(tmp, 'kubeconfig');
  writeFileSync(file, kubeconfig);
  const a = connectionFromConfig(config({ kubeconfig: file }));
  assert.equal(a.server, 'https://a.example:6443');
  assert.equal(a.ca.toString(), 'CA-A');
  assert.equal(a.cert.toString(), 'CERT');
  assert.equal(a.key.toString(), 'KEY');
  const b = connectionFromConfig(config({ kubeconfig: file, context: 'b' }));
  assert.equal(b.server, 'https://b.example:6443');
  assert.equal(b.token, 'secret-b');
  assert.equal(b.skipTLSVerify, true);
  assert.throws(() => connectionFromConfig(config({ kubeconfig: file, context: 'e' })), /exec plugin/);
  assert.throws(() => connectionFromConfig(config({ kubeconfig: file, context: 'nope' })), /no context "nope"/);
});

test('a URL with a token and a CA', () => {
  const c = connectionFromConfig(config({ url: 'https://k.example', token: 't', caData: Buffer.from('CA').toString('base64') }));
  assert.deepEqual({ ...c, ca: c.ca.toString() }, { server: 'https://k.example', ca: 'CA', token: 't', tokenFile: undefined, skipTLSVerify: false });
  assert.throws(() => connectionFromConfig(config({ url: 'https://k', kubeconfig: '/x' })), /either kubeconfig or url/);
});

test('nothing set: the in-cluster ServiceAccount, which needs KUBERNETES_SERVICE_HOST', () => {
  assert.throws(() => inCluster({}), /KUBERNETES_SERVICE_HOST/);
});
