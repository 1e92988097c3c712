'use strict';
// Minimal headless-Chromium driver over the DevTools protocol on a pipe (--remote-debugging-pipe:
// we write JSON messages ending in NUL to fd 3 and read them from fd 4). No driver library needed.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

function findChromium() {
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'])
    if (p && fs.existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

class Browser {
  static launch(executable) {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-chromium-'));
    // Flags for a closed network and no GPU (see machines/node.md): no background connections,
    // no component updates, no sync; a fresh empty profile.
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-extensions',
      '--disable-dev-shm-usage',
      '--remote-debugging-pipe',
      `--user-data-dir=${userDir}`,
      'about:blank',
    ];
    const proc = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    return new Browser(proc, userDir);
  }

  constructor(proc, userDir) {
    this.proc = proc;
    this.userDir = userDir;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    this.stderr = '';
    let buf = '';
    proc.stderr.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    proc.stdio[4].on('data', (d) => {
      buf += d.toString('utf8');
      let k;
      while ((k = buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(buf.slice(0, k));
        buf = buf.slice(k + 1);
        if (msg.id !== undefined && this.pending.has(msg.id)) {
          const { resolve, reject, method } = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
          else resolve(msg.result);
        } else if (msg.method) {
          for (const l of this.listeners) l(msg);
        }
      }
    });
    this.exited = new Promise((resolve) => proc.once('exit', resolve));
    this.exited.then(() => {
      for (const { reject } of this.pending.values()) reject(new Error(`chromium exited: ${this.stderr.slice(-500)}`));
      this.pending.clear();
    });
  }

  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.proc.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }

  on(fn) {
    this.listeners.push(fn);
  }

  waitFor(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      this.listeners.push((m) => {
        if (pred(m)) {
          clearTimeout(t);
          resolve(m);
        }
      });
    });
  }

  /**
   * Opens url in a new page; returns { problems, evaluate(expr), screenshot() } where problems
   * collects console errors/warnings, uncaught exceptions and failed loads.
   */
  async open(url) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const problems = [];
    this.on((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Runtime.consoleAPICalled' && (m.params.type === 'error' || m.params.type === 'warning' || m.params.type === 'assert'))
        problems.push(`console.${m.params.type}: ${m.params.args.map((a) => a.value ?? a.description).join(' ')}`);
      else if (m.method === 'Runtime.exceptionThrown') problems.push(`exception: ${m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text}`);
      else if (m.method === 'Log.entryAdded' && (m.params.entry.level === 'error' || m.params.entry.level === 'warning'))
        problems.push(`log ${m.params.entry.level} (${m.params.entry.source}): ${m.params.entry.text} ${m.params.entry.url ?? ''}`);
    });
    await this.send('Page.enable', {}, sessionId);
    await this.send('Runtime.enable', {}, sessionId);
    await this.send('Log.enable', {}, sessionId);
    const loaded = this.waitFor((m) => m.sessionId === sessionId && m.method === 'Page.loadEventFired', 15000, 'the page load');
    const nav = await this.send('Page.navigate', { url }, sessionId);
    if (nav.errorText) throw new Error(`cannot open ${url}: ${nav.errorText}`);
    await loaded;
    const evaluate = async (expression) => {
      const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId);
      if (r.exceptionDetails) throw new Error(`evaluate failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value;
    };
    const screenshot = async (file, clip) => {
      const { data } = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, ...(clip ? { clip: { scale: 1, ...clip } } : {}) }, sessionId);
      fs.writeFileSync(file, Buffer.from(data, 'base64'));
    };
    return { problems, evaluate, screenshot };
  }

  async close() {
    try {
      await Promise.race([this.send('Browser.close'), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      /* already gone */
    }
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(killer);
    fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}

module.exports = { findChromium, Browser };
