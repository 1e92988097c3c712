#!/usr/bin/env node
// The `nadir` command: fit, score, eval, bench, report, demo.
import { NadirError } from '../errors';
import { UserError } from './args';
import { evalCommand, fitCommand, scoreCommand } from './commands';
import { benchCommand, demoCommand } from './bench';
import { reportCommand } from './report';
import { availableDetectors } from './registry';

const COMMANDS: Record<string, { run: (argv: string[], out: { stdout: NodeJS.WritableStream }) => Promise<void>; summary: string }> = {
  fit: { run: fitCommand, summary: 'fit a detector on data and save the model' },
  score: { run: scoreCommand, summary: 'score data with a saved model (streaming, constant memory)' },
  eval: { run: evalCommand, summary: 'ROC-AUC, average precision, precision/recall of a model on labelled data' },
  bench: { run: benchCommand, summary: 'compare detectors on one dataset: fit time, throughput, latency, accuracy' },
  report: { run: reportCommand, summary: 'write a self-contained HTML report (charts) from bench JSON or a model + data' },
  demo: { run: demoCommand, summary: 'classical vs neural detectors on a shipped dataset' },
};

function mainHelp(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length)) + 2;
  return [
    'nadir: fast anomaly detection for Node.js',
    '',
    'Usage: nadir <command> [options]      (nadir <command> --help for its options)',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(w)}${c.summary}`),
    '',
    `Detectors: ${availableDetectors().map((d) => d.name).join(', ') || '(none built)'}`,
    '',
    'Example:',
    '  nadir demo',
    '  nadir fit data.csv --detector isolation-forest -o model.nadir',
    '  nadir score model.nadir data.csv --predict -o scores.csv',
    '  nadir eval model.nadir data.csv --label label',
  ].join('\n');
}

export async function main(argv: string[], stdout: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const sub = cmd === 'help' ? rest[0] : undefined;
    if (sub && COMMANDS[sub]) return main([sub, '--help'], stdout);
    stdout.write(mainHelp() + '\n');
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    stdout.write(require('../../package.json').version + '\n');
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`nadir: unknown command '${cmd}' (commands: ${Object.keys(COMMANDS).join(', ')}; see 'nadir --help')\n`);
    return 2;
  }
  try {
    await c.run(rest, { stdout });
    return 0;
  } catch (e) {
    const err = e as Error;
    if (err instanceof UserError) {
      process.stderr.write(`nadir ${cmd}: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof NadirError) {
      process.stderr.write(`nadir ${cmd}: ${err.message}\n`);
      return 1;
    }
    // A bug, not a user mistake: still one line, with the stack on request.
    process.stderr.write(`nadir ${cmd}: internal error: ${err && err.message ? err.message : String(err)}` + (process.env.NADIR_DEBUG ? `\n${err && err.stack}` : ' (set NADIR_DEBUG=1 for details)') + '\n');
    return 70;
  }
}

if (require.main === module) {
  // `nadir score ... | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`nadir: ${(e as Error).message}\n`);
      process.exitCode = 70;
    },
  );
}
