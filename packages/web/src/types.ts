/** The processing types of this server (`GET /v1/types`), fetched once per tab. */
import { signal } from '@preact/signals';
import type { ProcessingType } from 'bsubio';
import { client } from './api.js';

export const types = signal<ProcessingType[] | undefined>(undefined);
let loading: Promise<void> | undefined;

export function loadTypes(): Promise<void> {
  loading ??= client.system.getTypes().then(
    (answer) => {
      types.value = answer.types;
    },
    (error: unknown) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

export function findType(name: string): ProcessingType | undefined {
  return types.value?.find((t) => t.type === name || t.aliases?.includes(name));
}

export function isAvailable(type: ProcessingType): boolean {
  return type.available !== false;
}
