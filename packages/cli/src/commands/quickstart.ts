import { type Command, expectArgs } from '../command.js';

export const quickstart: Command = {
  name: 'quickstart',
  summary: 'Show quickstart guide',
  usage: 'quickstart',
  description: 'Print a short guide to configuring bsubio and running a first job.',
  flags: [],
  examples: ['bsubio quickstart'],
  async run(ctx, { args }) {
    expectArgs(this, args, 0);
    ctx.print(GUIDE);
  },
};

const GUIDE = `bsubio quickstart

1. Configure the API key and server (a self-hosted bsubio server writes
   ~/.config/bsubio/config.json on first start, so this may be done already):

    bsubio config

   or sign in through the browser, which saves a new key for this machine:

    bsubio register --base-url http://127.0.0.1:9986

2. See what the server can do, and what one type takes:

    bsubio types
    bsubio types image/convert

3. Submit a file. The job id is printed:

    echo hello > input.txt
    bsubio submit passthru input.txt

4. Follow the job and get its results:

    bsubio status <jobid>    # the start of the id will do, as 'bsubio jobs' shows it
    bsubio wait -v <jobid>   # each change of state as it happens
    bsubio cat <jobid>       # the tool's output (stdout)
    bsubio logs <jobid>      # the tool's messages (stderr)

5. Or do it all at once; the output goes to stdout, progress to stderr:

    bsubio submit -w pdf/extract report.pdf | grep total
    bsubio submit -w -o report.txt pdf/extract report.pdf
    bsubio submit -o texts/ pdf/extract *.pdf
    bsubio submit -o photo.jpg image/convert photo.png --param format=jpeg

Manage jobs:

    bsubio jobs                  # recent jobs, newest first
    bsubio jobs --status failed
    bsubio cancel <jobid>
    bsubio rm <jobid>

Scripts: add --json to jobs, status, wait, submit, types and version.
Shell completion: bsubio completion bash|zsh|fish (see 'bsubio help completion').
Every command: bsubio help <command>
`;
