/**
 * The seccomp filter of the sandbox: a classic BPF program, assembled here
 * once per process and handed to bwrap (`--seccomp FD`), which loads it just
 * before it executes the tool. It refuses, with EPERM, the system calls no
 * processing tool needs and that are the usual ways from a process into the
 * kernel's rarely used corners or other processes (the deny list of the
 * common container runtimes): ptrace and reading other processes' memory,
 * the mount family and namespace changes, kernel keyrings, bpf,
 * perf_event_open, userfaultfd, kexec, kernel modules, swap, clock and
 * host-name changes, reboot, quotas, file handles (open_by_handle_at),
 * io_uring. Everything else is allowed: the sandbox (namespaces, no
 * capabilities, nobody) is the first wall, this is the second.
 *
 * - A system call of another ABI (32-bit x86 on x86-64, x32) kills the
 *   process: the numbers differ, and no tool here needs them.
 * - clone and unshare are refused only with a flag that makes a namespace;
 *   clone3's flags are behind a pointer a filter cannot read, so it answers
 *   ENOSYS and the C library falls back to clone (as container runtimes do).
 * - io_uring answers ENOSYS, as on a kernel without it: libuv and others fall
 *   back to their thread pools.
 * - personality is allowed only for the values programs query or need
 *   (not to turn address randomisation off).
 */
import { arch } from 'node:process';

/** x86-64 and arm64 numbers of the refused calls (from the kernel's unistd headers). */
const DENIED: Record<string, { x64?: number; arm64?: number; errno?: 'ENOSYS' }> = {
  ptrace: { x64: 101, arm64: 117 },
  process_vm_readv: { x64: 310, arm64: 270 },
  process_vm_writev: { x64: 311, arm64: 271 },
  pidfd_getfd: { x64: 438, arm64: 438 },
  process_madvise: { x64: 440, arm64: 440 },
  process_mrelease: { x64: 448, arm64: 448 },
  kcmp: { x64: 312, arm64: 272 },
  mount: { x64: 165, arm64: 40 },
  umount2: { x64: 166, arm64: 39 },
  pivot_root: { x64: 155, arm64: 41 },
  chroot: { x64: 161, arm64: 51 },
  open_tree: { x64: 428, arm64: 428 },
  move_mount: { x64: 429, arm64: 429 },
  fsopen: { x64: 430, arm64: 430 },
  fsconfig: { x64: 431, arm64: 431 },
  fsmount: { x64: 432, arm64: 432 },
  fspick: { x64: 433, arm64: 433 },
  mount_setattr: { x64: 442, arm64: 442 },
  setns: { x64: 308, arm64: 268 },
  keyctl: { x64: 250, arm64: 219 },
  add_key: { x64: 248, arm64: 217 },
  request_key: { x64: 249, arm64: 218 },
  bpf: { x64: 321, arm64: 280 },
  perf_event_open: { x64: 298, arm64: 241 },
  userfaultfd: { x64: 323, arm64: 282 },
  kexec_load: { x64: 246, arm64: 104 },
  kexec_file_load: { x64: 320, arm64: 294 },
  init_module: { x64: 175, arm64: 105 },
  finit_module: { x64: 313, arm64: 273 },
  delete_module: { x64: 176, arm64: 106 },
  create_module: { x64: 174 },
  get_kernel_syms: { x64: 177 },
  query_module: { x64: 178 },
  reboot: { x64: 169, arm64: 142 },
  swapon: { x64: 167, arm64: 224 },
  swapoff: { x64: 168, arm64: 225 },
  acct: { x64: 163, arm64: 89 },
  settimeofday: { x64: 164, arm64: 170 },
  clock_settime: { x64: 227, arm64: 112 },
  clock_adjtime: { x64: 305, arm64: 266 },
  sethostname: { x64: 170, arm64: 161 },
  setdomainname: { x64: 171, arm64: 162 },
  iopl: { x64: 172 },
  ioperm: { x64: 173 },
  quotactl: { x64: 179, arm64: 60 },
  quotactl_fd: { x64: 443, arm64: 443 },
  nfsservctl: { x64: 180, arm64: 42 },
  lookup_dcookie: { x64: 212, arm64: 18 },
  name_to_handle_at: { x64: 303, arm64: 264 },
  open_by_handle_at: { x64: 304, arm64: 265 },
  fanotify_init: { x64: 300, arm64: 262 },
  uselib: { x64: 134 },
  ustat: { x64: 136 },
  sysfs: { x64: 139 },
  _sysctl: { x64: 156 },
  syslog: { x64: 103, arm64: 116 },
  vhangup: { x64: 153, arm64: 58 },
  move_pages: { x64: 279, arm64: 239 },
  migrate_pages: { x64: 256, arm64: 238 },
  io_uring_setup: { x64: 425, arm64: 425, errno: 'ENOSYS' },
  io_uring_enter: { x64: 426, arm64: 426, errno: 'ENOSYS' },
  io_uring_register: { x64: 427, arm64: 427, errno: 'ENOSYS' },
  clone3: { x64: 435, arm64: 435, errno: 'ENOSYS' },
};

/** Calls allowed only when their first argument passes a check. */
const CHECKED = {
  clone: { x64: 56, arm64: 220 },
  unshare: { x64: 272, arm64: 97 },
  personality: { x64: 135, arm64: 92 },
};

/** Every CLONE_NEW* flag (namespaces), and CLONE_NEWTIME. */
const CLONE_NAMESPACE_FLAGS = 0x7e020080;
/** personality(): query, PER_LINUX, PER_LINUX32, UNAME26 variants (what runtimes allow). */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 } as const;
const X32_SYSCALL_BIT = 0x40000000;

// Classic BPF opcodes.
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;
const ENOSYS = 38;

/** Offsets in struct seccomp_data. */
const NR = 0;
const ARCH = 4;
const ARG0_LOW = 16; // little-endian: the low 32 bits of args[0]

export type SeccompArch = keyof typeof AUDIT_ARCH;

/** The architecture the filter is built for, or null where there is none. */
export function seccompArch(): SeccompArch | null {
  if (arch === 'x64') return 'x64';
  if (arch === 'arm64') return 'arm64';
  return null;
}

/** The refused system calls by name with the errno they answer, for this architecture. */
export function deniedSyscalls(
  target: SeccompArch,
): { name: string; nr: number; errno: 'EPERM' | 'ENOSYS' }[] {
  const list: { name: string; nr: number; errno: 'EPERM' | 'ENOSYS' }[] = [];
  for (const [name, entry] of Object.entries(DENIED)) {
    const nr = entry[target];
    if (nr !== undefined) list.push({ name, nr, errno: entry.errno ?? 'EPERM' });
  }
  return list;
}

/** The numbers of the argument-checked calls, for tests. */
export function checkedSyscalls(target: SeccompArch): Record<keyof typeof CHECKED, number> {
  return {
    clone: CHECKED.clone[target],
    unshare: CHECKED.unshare[target],
    personality: CHECKED.personality[target],
  };
}

type Insn =
  | { op: 'ld'; offset: number }
  | { op: 'jeq' | 'jge' | 'jset'; k: number; jt: string | 0; jf: string | 0 }
  | { op: 'ret'; k: number }
  | { op: 'label'; name: string };

/** Resolve labels to forward jump offsets and encode sock_filter entries (host byte order: little-endian). */
function assemble(program: Insn[]): Buffer {
  const positions = new Map<string, number>();
  let pc = 0;
  for (const insn of program) {
    if (insn.op === 'label') positions.set(insn.name, pc);
    else pc++;
  }
  const out = Buffer.alloc(pc * 8);
  pc = 0;
  const offsetTo = (target: string | 0): number => {
    if (target === 0) return 0;
    const at = positions.get(target);
    if (at === undefined) throw new Error(`seccomp: no label ${target}`);
    const jump = at - pc - 1;
    if (jump < 0 || jump > 255) throw new Error(`seccomp: jump to ${target} out of range (${jump})`);
    return jump;
  };
  for (const insn of program) {
    if (insn.op === 'label') continue;
    let code: number;
    let jt = 0;
    let jf = 0;
    let k: number;
    if (insn.op === 'ld') {
      code = BPF_LD_W_ABS;
      k = insn.offset;
    } else if (insn.op === 'ret') {
      code = BPF_RET_K;
      k = insn.k;
    } else {
      code = insn.op === 'jeq' ? BPF_JEQ_K : insn.op === 'jge' ? BPF_JGE_K : BPF_JSET_K;
      jt = offsetTo(insn.jt);
      jf = offsetTo(insn.jf);
      k = insn.k;
    }
    out.writeUInt16LE(code, pc * 8);
    out.writeUInt8(jt, pc * 8 + 2);
    out.writeUInt8(jf, pc * 8 + 3);
    out.writeUInt32LE(k >>> 0, pc * 8 + 4);
    pc++;
  }
  return out;
}

/** The filter program for an architecture, as bytes for `bwrap --seccomp`. */
export function buildSeccompFilter(target: SeccompArch): Buffer {
  const checked = checkedSyscalls(target);
  const p: Insn[] = [
    { op: 'ld', offset: ARCH },
    { op: 'jeq', k: AUDIT_ARCH[target], jt: 0, jf: 'kill' },
    { op: 'ld', offset: NR },
  ];
  if (target === 'x64') p.push({ op: 'jge', k: X32_SYSCALL_BIT, jt: 'kill', jf: 0 });
  for (const { nr, errno } of deniedSyscalls(target))
    p.push({ op: 'jeq', k: nr, jt: errno === 'ENOSYS' ? 'enosys' : 'eperm', jf: 0 });
  p.push(
    { op: 'jeq', k: checked.clone, jt: 'namespace_flags', jf: 0 },
    { op: 'jeq', k: checked.unshare, jt: 'namespace_flags', jf: 0 },
    { op: 'jeq', k: checked.personality, jt: 'personality', jf: 0 },
    { op: 'ret', k: SECCOMP_RET_ALLOW },
    { op: 'label', name: 'namespace_flags' },
    { op: 'ld', offset: ARG0_LOW },
    { op: 'jset', k: CLONE_NAMESPACE_FLAGS, jt: 'eperm', jf: 'allow' },
    { op: 'label', name: 'personality' },
    { op: 'ld', offset: ARG0_LOW },
  );
  for (const value of PERSONALITIES) p.push({ op: 'jeq', k: value, jt: 'allow', jf: 0 });
  p.push(
    { op: 'ret', k: SECCOMP_RET_ERRNO | EPERM },
    { op: 'label', name: 'allow' },
    { op: 'ret', k: SECCOMP_RET_ALLOW },
    { op: 'label', name: 'eperm' },
    { op: 'ret', k: SECCOMP_RET_ERRNO | EPERM },
    { op: 'label', name: 'enosys' },
    { op: 'ret', k: SECCOMP_RET_ERRNO | ENOSYS },
    { op: 'label', name: 'kill' },
    { op: 'ret', k: SECCOMP_RET_KILL_PROCESS },
  );
  return assemble(p);
}

let cached: Buffer | null | undefined;

/** The filter for this machine, built once; null when its architecture has none here. */
export function sandboxSeccompFilter(): Buffer | null {
  if (cached !== undefined) return cached;
  const target = seccompArch();
  cached = target ? buildSeccompFilter(target) : null;
  return cached;
}
