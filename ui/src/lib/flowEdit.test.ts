import { describe, expect, it } from 'vitest';
import {
  addField,
  addStep,
  addValueMap,
  setValueMap,
  withUnmappedPolicy,
  constantFromText,
  constantToText,
  convertValue,
  entriesFromText,
  entriesToText,
  fieldAt,
  jsonErrorOffset,
  issuesOfDetails,
  locateIssuePath,
  locateOutputField,
  locationKey,
  moveField,
  moveStep,
  numberSetting,
  parseDefinition,
  removeField,
  removeStep,
  sameDefinition,
  setFieldProp,
  setIn,
  setSourceKind,
  setStepProp,
  setValueProp,
  skeletonFlow,
  sortIssues,
  sortPreviewErrors,
  sourceKind,
  type Json,
} from './flowEdit';

/** A flow shaped like the demo: a filter, then a mapping with a for_each field. */
function demo(): Json {
  return {
    version: 1,
    id: 'demo',
    steps: [
      { id: 'skip_pending', type: 'filter', condition: 'record.status != "pending"' },
      {
        id: 'to_order',
        type: 'mapping',
        fields: [
          { target: 'order_number', value: { type: 'jsonpath', path: '$.name', cardinality: 'required' } },
          { target: 'customer.country', value: { type: 'value_map', path: '$.country', map: 'erp_country' } },
          {
            target: 'lines',
            value: {
              type: 'for_each',
              path: '$.line_items[*]',
              fields: [
                { target: 'sku', value: { type: 'jsonpath', path: '$.sku' } },
                { target: 'unit_price', value: { type: 'jsonpath', path: '$.price' }, transform: 'parse_number(value)' },
              ],
            },
          },
          { target: 'skus[*]', value: { type: 'jsonpath', path: '$.line_items[*].sku', cardinality: 'all' } },
        ],
      },
    ],
    target: { connection: 'erp', operation: 'write' },
    value_maps: { erp_country: { entries: { FR: 'FRA' } } },
  };
}

describe('edit operations', () => {
  it('never change the definition they are given', () => {
    const def = demo();
    const before = JSON.stringify(def);
    setFieldProp(def, { step: 1, fields: [2, 1] }, 'transform', 'round(value, 2)');
    removeStep(def, 0);
    moveField(def, { step: 1, fields: [0] }, 1);
    expect(JSON.stringify(def)).toBe(before);
  });

  it('add, remove and reorder steps, each new step with a free id', () => {
    let def = addStep(demo(), 'filter');
    def = addStep(def, 'filter');
    const ids = (def.steps as Json[]).map((s) => s.id);
    expect(ids).toEqual(['skip_pending', 'to_order', 'filter', 'filter_2']);
    expect((def.steps as Json[])[2]).toEqual({ id: 'filter', type: 'filter', condition: 'true' });
    def = moveStep(def, 3, -1);
    expect((def.steps as Json[]).map((s) => s.id)).toEqual(['skip_pending', 'to_order', 'filter_2', 'filter']);
    // Moving past either end changes nothing.
    expect(moveStep(def, 0, -1)).toEqual(def);
    def = removeStep(def, 0);
    expect((def.steps as Json[]).map((s) => s.id)).toEqual(['to_order', 'filter_2', 'filter']);
    expect((addStep(def, 'script').steps as Json[])[3]).toEqual({ id: 'script', type: 'script', script: 'record' });
  });

  it('set step properties, removing them when undefined', () => {
    const def = setStepProp(demo(), 0, 'on_error', 'skip');
    expect((def.steps as Json[])[0].on_error).toBe('skip');
    expect('on_error' in (setStepProp(def, 0, 'on_error', undefined).steps as Json[])[0]).toBe(false);
  });

  it('add, remove and reorder fields, also inside a for_each field', () => {
    let def = addField(demo(), { step: 1, fields: [2] });
    expect(fieldAt(def, { step: 1, fields: [2, 2] })).toEqual({
      target: '',
      value: { type: 'jsonpath', path: '$.', cardinality: 'first' },
    });
    def = moveField(def, { step: 1, fields: [2, 2] }, -2);
    expect(fieldAt(def, { step: 1, fields: [2, 0] })?.target).toBe('');
    expect(fieldAt(def, { step: 1, fields: [2, 1] })?.target).toBe('sku');
    def = removeField(def, { step: 1, fields: [2, 0] });
    expect(fieldAt(def, { step: 1, fields: [2, 0] })?.target).toBe('sku');
    def = moveField(def, { step: 1, fields: [0] }, 1);
    expect(fieldAt(def, { step: 1, fields: [1] })?.target).toBe('order_number');
    def = addField(def, { step: 1, fields: [] });
    expect(((def.steps as Json[])[1].fields as Json[]).length).toBe(5);
  });

  it('set field properties; an emptied optional one is removed, not kept as ""', () => {
    const loc = { step: 1, fields: [2, 1] };
    let def = setFieldProp(demo(), loc, 'transform', 'round(parse_number(value), 2)');
    expect(fieldAt(def, loc)?.transform).toBe('round(parse_number(value), 2)');
    def = setFieldProp(def, loc, 'transform', '');
    expect(fieldAt(def, loc)).toEqual({ target: 'unit_price', value: { type: 'jsonpath', path: '$.price' } });
    def = setFieldProp(def, loc, 'omit_if_missing', true);
    expect(fieldAt(def, loc)?.omit_if_missing).toBe(true);
    expect('omit_if_missing' in fieldAt(setFieldProp(def, loc, 'omit_if_missing', false), loc)!).toBe(false);
    // The target stays even when empty: it is required, and the validation says so.
    expect(fieldAt(setFieldProp(def, loc, 'target', ''), loc)?.target).toBe('');
    def = setValueProp(def, { step: 1, fields: [0] }, 'cardinality', 'all');
    expect(fieldAt(def, { step: 1, fields: [0] })?.value).toEqual({ type: 'jsonpath', path: '$.name', cardinality: 'all' });
  });

  it('refuse a location that is not a field list', () => {
    expect(() => addField(demo(), { step: 1, fields: [0] })).toThrow(/not a for_each/);
    expect(() => setStepProp(demo(), 7, 'id', 'x')).toThrow(/no step 7/);
  });

  it('set nested settings, creating objects on the way', () => {
    const def = setIn(demo(), ['target', 'batch_size'], 50);
    expect(def.target).toEqual({ connection: 'erp', operation: 'write', batch_size: 50 });
    expect(setIn(def, ['target', 'batch_size'], undefined).target).toEqual({ connection: 'erp', operation: 'write' });
    expect(setIn({}, ['a', 'b'], 1)).toEqual({ a: { b: 1 } });
  });
});

describe('source kinds', () => {
  it('read the kind of every value type', () => {
    expect(sourceKind({ type: 'jsonpath', path: '$.a' })).toBe('jsonpath');
    expect(sourceKind({ type: 'rhai', script: 'record.a + 1' })).toBe('rhai');
    expect(sourceKind({ type: 'rhai', script: 'let x = 1;\nx' })).toBe('rhai_script');
    expect(sourceKind({ type: 'static', value: 1 })).toBe('static');
    expect(sourceKind({ type: 'value_map', path: '$.a', map: 'm' })).toBe('named_map');
    expect(sourceKind({ type: 'value_map', path: '$.a', inline: { entries: {} } })).toBe('value_map');
    expect(sourceKind({ type: 'for_each', path: '$.a[*]', fields: [] })).toBe('for_each');
    expect(sourceKind({ type: 'template', template: '{$.a}' })).toBe('template');
    expect(sourceKind({ type: 'from_the_future' })).toBe('other');
    expect(sourceKind(null)).toBe('other');
  });

  it('convert between kinds keeping the path or script', () => {
    const query = { type: 'jsonpath', path: '$.customer.email', cardinality: 'required' };
    expect(convertValue(query, 'rhai')).toEqual({ type: 'rhai', script: 'record.customer.email' });
    expect(convertValue(query, 'value_map')).toEqual({
      type: 'value_map',
      path: '$.customer.email',
      inline: { entries: {}, fail_if_unmapped: true },
    });
    expect(convertValue(query, 'named_map', ['status'])).toEqual({ type: 'value_map', path: '$.customer.email', map: 'status' });
    expect(convertValue(query, 'template')).toEqual({ type: 'template', template: '{$.customer.email}' });
    expect(convertValue({ type: 'rhai', script: 'a + 1' }, 'rhai_script')).toEqual({ type: 'rhai', script: 'let v = a + 1;\nv' });
    expect(convertValue({ type: 'rhai', script: 'let v = 1;\nv' }, 'rhai')).toEqual({ type: 'rhai', script: 'let v = 1; v' });
    expect(convertValue({ type: 'jsonpath', path: '$.items' }, 'for_each')).toMatchObject({ type: 'for_each', path: '$.items[*]' });
    expect(convertValue(query, 'static')).toEqual({ type: 'static', value: '' });
  });

  it('setSourceKind picks a named table the flow has', () => {
    const def = setSourceKind(demo(), { step: 1, fields: [0] }, 'named_map');
    expect(fieldAt(def, { step: 1, fields: [0] })?.value).toEqual({ type: 'value_map', path: '$.name', map: 'erp_country' });
  });
});

describe('named tables', () => {
  it('add one with a free name, replace and remove it', () => {
    expect(addValueMap(demo(), ' ')).toBe('give the table a name');
    expect(addValueMap(demo(), 'erp_country')).toBe('a table `erp_country` exists already');
    const added = addValueMap(demo(), 'status') as Json;
    expect(added.value_maps).toEqual({ erp_country: { entries: { FR: 'FRA' } }, status: { entries: {}, fail_if_unmapped: true } });
    const changed = setValueMap(added, 'status', { entries: { paid: 'PAID' }, default: 'OTHER' });
    expect((changed.value_maps as Json).status).toEqual({ entries: { paid: 'PAID' }, default: 'OTHER' });
    const removed = setValueMap(setValueMap(changed, 'status', undefined), 'erp_country', undefined);
    expect('value_maps' in removed).toBe(false);
  });

  it('switch between a default and failing on unlisted values', () => {
    const map = { entries: { a: 1 }, fail_if_unmapped: true };
    expect(withUnmappedPolicy(map, 'default')).toEqual({ entries: { a: 1 }, default: '' });
    expect(withUnmappedPolicy({ entries: { a: 1 }, default: 5 }, 'default')).toEqual({ entries: { a: 1 }, default: 5 });
    expect(withUnmappedPolicy({ entries: { a: 1 }, default: 5 }, 'fail')).toEqual(map);
  });
});

describe('constants and value-map entries as typed', () => {
  it('read JSON when it is JSON and text otherwise, and write it back the same', () => {
    expect(constantFromText('EUR')).toBe('EUR');
    expect(constantFromText('12')).toBe(12);
    expect(constantFromText('"12"')).toBe('12');
    expect(constantFromText('true')).toBe(true);
    expect(constantFromText('{"a": 1}')).toEqual({ a: 1 });
    expect(constantFromText('')).toBe('');
    for (const v of ['EUR', 12, '12', 'true', true, null, { a: [1] }, 'two words']) {
      expect(constantFromText(constantToText(v))).toEqual(v);
    }
    expect(constantToText('12')).toBe('"12"');
    expect(constantToText('EUR')).toBe('EUR');
  });

  it('turn entries into lines and back, with errors naming the line', () => {
    const entries = { paid: 'OPEN', FR: 20, yes: true };
    expect(entriesToText(entries)).toBe('paid = OPEN\nFR = 20\nyes = true');
    expect(entriesFromText(entriesToText(entries))).toEqual({ ok: true, entries });
    expect(entriesFromText('a = 1\n\nb=x y')).toEqual({ ok: true, entries: { a: 1, b: 'x y' } });
    expect(entriesFromText('a = 1\nb')).toEqual({ ok: false, message: 'line 2: write `source = target`' });
    expect(entriesFromText('a = 1\na = 2')).toEqual({ ok: false, message: 'line 2: `a` is listed twice' });
    expect(entriesFromText(' = 2')).toEqual({ ok: false, message: 'line 1: the source value is empty' });
  });

  it('read whole numbers for settings, empty for the default', () => {
    expect(numberSetting('50')).toBe(50);
    expect(numberSetting(' ')).toBeUndefined();
    expect(numberSetting('2.5')).toBeNull();
    expect(numberSetting('ten')).toBeNull();
  });
});

describe('the JSON view', () => {
  it('parses a definition, or says where the JSON is wrong', () => {
    expect(parseDefinition('{"id": "x"}')).toEqual({ ok: true, value: { id: 'x' } });
    const bad = parseDefinition('{\n  "id": "x",\n  "steps": [,]\n}');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect([bad.line, bad.column]).toEqual([3, 13]);
    const cut = parseDefinition('{\n  "id": ');
    expect(cut.ok).toBe(false);
    if (!cut.ok) expect(cut.line).toBe(2);
    expect(parseDefinition('[1]')).toMatchObject({ ok: false, message: 'A flow is a JSON object ({…}).' });
  });

  it('finds the offset of a JSON error whatever the browser says', () => {
    const cases: [string, number][] = [
      ['{"a": 1,}', 8],
      ['[,]', 1],
      ['{"a": tru}', 9],
      ['{"a": 1} x', 9],
      ['{"a": "b\\q"}', 9],
      ['{', 1],
    ];
    // Valid JSON: nothing wrong before its end.
    const valid = '{"a": [1, 2.5e3, -0, "x\\n", null, false, {}]}';
    cases.push([valid, valid.length]);
    for (const [text, offset] of cases) expect([text, jsonErrorOffset(text)]).toEqual([text, offset]);
  });

  it('compares definitions whatever their key order', () => {
    expect(sameDefinition({ a: 1, b: [{ c: 1, d: 2 }] }, { b: [{ d: 2, c: 1 }], a: 1 })).toBe(true);
    expect(sameDefinition({ a: 1 }, { a: 2 })).toBe(false);
  });
});

describe('problems sorted to where they belong', () => {
  it('locates validation paths in steps, fields and for_each fields', () => {
    expect(locateIssuePath('steps[1].fields[0].value.path')).toEqual({ step: 1, fields: [0], rest: 'value.path' });
    expect(locateIssuePath('steps[1].fields[2].value.fields[1].transform')).toEqual({ step: 1, fields: [2, 1], rest: 'transform' });
    expect(locateIssuePath('steps[0].condition')).toEqual({ step: 0, fields: [], rest: 'condition' });
    expect(locateIssuePath('steps[3]')).toEqual({ step: 3, fields: [], rest: '' });
    expect(locateIssuePath('target.batch_size')).toBeNull();
  });

  it('files issues of a 422 answer under their step or field', () => {
    const details = {
      issues: [
        { path: 'steps[1].fields[2].value.fields[1].transform', step_id: 'to_order', message: 'Rhai syntax error', line: 20, column: 3 },
        { path: 'steps[0].condition', step_id: 'skip_pending', message: 'bad condition' },
        { path: 'target.batch_size', step_id: null, message: 'must be at least 1', line: 40, column: 18 },
        { nonsense: true },
      ],
    };
    const issues = issuesOfDetails(details);
    expect(issues).toHaveLength(3);
    const sorted = sortIssues(issues);
    expect(sorted.byLocation.get(locationKey(1, [2, 1]))).toEqual([{ where: 'transform', message: 'Rhai syntax error' }]);
    expect(sorted.byLocation.get('s0')).toEqual([{ where: 'condition', message: 'bad condition' }]);
    expect(sorted.general).toEqual([{ where: 'target.batch_size', message: 'must be at least 1' }]);
    // The preview's 422 details are a plain array.
    expect(issuesOfDetails([{ path: 'steps[0].script', step: 's', message: 'm' }])).toHaveLength(1);
  });

  it('finds the field that wrote an output field of a preview error', () => {
    const fields = (demo().steps as Json[])[1].fields;
    expect(locateOutputField(fields, 'order_number')).toEqual([0]);
    expect(locateOutputField(fields, 'customer.country')).toEqual([1]);
    expect(locateOutputField(fields, 'lines[2].unit_price')).toEqual([2, 1]);
    expect(locateOutputField(fields, 'lines[0].nope')).toEqual([2]);
    expect(locateOutputField(fields, 'skus[3]')).toEqual([3]);
    expect(locateOutputField(fields, 'customer.country.code')).toEqual([1]);
    expect(locateOutputField(fields, 'elsewhere')).toBeNull();
  });

  it('files preview errors under their field, or their step when they name none', () => {
    const def = demo();
    const sorted = sortPreviewErrors(def, 'to_order', [
      { field: 'customer.country', message: 'value map `erp_country` has no entry for "XX"' },
      { field: 'lines[1].unit_price', message: 'not a number' },
    ]);
    expect(sorted.byLocation.get('s1/f1')?.[0].message).toContain('erp_country');
    expect(sorted.byLocation.get('s1/f2/f1')?.[0].where).toBe('lines[1].unit_price');
    const filter = sortPreviewErrors(def, 'skip_pending', [{ field: '', message: 'not a boolean' }]);
    expect(filter.byLocation.get('s0')?.[0].message).toBe('not a boolean');
    expect(sortPreviewErrors(def, 'gone', [{ field: 'x', message: 'm' }]).general).toHaveLength(1);
  });
});

describe('new flows and saved versions', () => {
  it('the skeleton carries the id, name and tenant', () => {
    const flow = skeletonFlow('my-flow', 'My flow', 'demo');
    expect(flow).toMatchObject({ version: 1, id: 'my-flow', name: 'My flow', tenant: 'demo' });
    expect('tenant' in skeletonFlow('x', '', null)).toBe(false);
  });
});
