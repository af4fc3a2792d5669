/** Turns a type's command template into the argv run inside the sandbox. */
import type { TypeDefinition } from './catalog.js';
import type { ParamValues } from './params.js';

export interface CommandContext {
  /** Path of the input file inside the sandbox. */
  input: string;
  /** The directory of the unpacked input files (types with archive_in). */
  files: string;
  /** Path of bsubio's helper scripts inside the sandbox. */
  tools: string;
  /** Path of the Node.js binary inside the sandbox. */
  node: string;
  params: ParamValues;
}

export function resolveCommand(definition: TypeDefinition, ctx: CommandContext): string[] {
  return definition.command.map((part) => resolvePlaceholders(definition, part, ctx));
}

/** The type's extra environment with its placeholders filled in. */
export function resolveEnv(definition: TypeDefinition, ctx: CommandContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(definition.env ?? {})) {
    env[name] = resolvePlaceholders(definition, value, ctx);
  }
  return env;
}

function resolvePlaceholders(definition: TypeDefinition, part: string, ctx: CommandContext): string {
  return part.replace(
    /\{(input|files|tools|node|param:([A-Za-z0-9_]+))\}/g,
    (_m, key: string, param?: string) => {
      if (param !== undefined) {
        const value = ctx.params[param];
        if (value === undefined)
          throw new Error(`type "${definition.type}" uses {param:${param}} without a value`);
        return String(value);
      }
      return ctx[key as 'input' | 'files' | 'tools' | 'node'];
    },
  );
}
