/** A processing type's declared parameters (`/v1/types`) as form fields. */
import type { ProcessingType } from 'bsubio';

type ParamSpec = NonNullable<ProcessingType['params']>[number];
export type ParamValues = Record<string, string>;

export function ParamsForm({
  type,
  values,
  onChange,
  idPrefix,
}: {
  type: ProcessingType | undefined;
  values: ParamValues;
  onChange: (values: ParamValues) => void;
  idPrefix: string;
}) {
  const specs = type?.params ?? [];
  if (specs.length === 0) return null;
  const set = (name: string, value: string) => onChange({ ...values, [name]: value });
  return (
    <fieldset class="params">
      <legend>Parameters of {type!.type}</legend>
      {specs.map((spec) => (
        <ParamField
          key={spec.name}
          spec={spec}
          id={`${idPrefix}-${spec.name}`}
          value={values[spec.name]}
          set={set}
        />
      ))}
    </fieldset>
  );
}

function ParamField({
  spec,
  id,
  value,
  set,
}: {
  spec: ParamSpec;
  id: string;
  value: string | undefined;
  set: (name: string, value: string) => void;
}) {
  const shown = value ?? (spec.default !== undefined ? String(spec.default) : '');
  const hint = `${id}-hint`;
  const common = {
    id,
    name: spec.name,
    'aria-describedby': hint,
    value: shown,
    onInput: (e: Event) => set(spec.name, (e.currentTarget as HTMLInputElement).value),
  };
  return (
    <div class="field">
      <label for={id}>{spec.name}</label>
      {spec.type === 'enum' ? (
        <select {...common} onChange={common.onInput}>
          {(spec.values ?? []).map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      ) : spec.type === 'integer' ? (
        <input {...common} type="number" step={1} min={spec.minimum} max={spec.maximum} />
      ) : (
        <input {...common} type="text" pattern={spec.pattern} />
      )}
      <small id={hint}>{spec.description}</small>
    </div>
  );
}

/** The values to send: typed as the spec says, defaults left to the server. */
export function paramsToSend(
  type: ProcessingType | undefined,
  values: ParamValues,
): Record<string, string | number> | undefined {
  const out: Record<string, string | number> = {};
  for (const spec of type?.params ?? []) {
    const value = values[spec.name];
    if (value === undefined || value === '') continue;
    out[spec.name] = spec.type === 'integer' ? Number(value) : value;
  }
  return Object.keys(out).length ? out : undefined;
}
