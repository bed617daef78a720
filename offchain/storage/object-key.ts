import { DmlError } from '../errors.js';

/**
 * Object keys that are safe in S3 and as relative paths in a folder: 1 to 1024 characters of
 * `A-Z a-z 0-9 ! - _ . * ' ( ) /`, no empty, `.` or `..` segment, no leading or trailing `/`.
 */
const ALLOWED = /^[A-Za-z0-9!\-_.*'()/]+$/;

export const checkObjectKey = (key: string): string => {
  const bad = (why: string): never => {
    throw new DmlError('STORAGE_BAD_KEY', `object key ${JSON.stringify(key)} ${why}`);
  };
  if (key.length === 0 || key.length > 1024) bad('must have 1 to 1024 characters');
  if (!ALLOWED.test(key)) bad("may only hold A-Z a-z 0-9 ! - _ . * ' ( ) /");
  for (const segment of key.split('/'))
    if (segment === '' || segment === '.' || segment === '..') bad('has an empty, "." or ".." path segment');
  return key;
};

/** A key prefix: empty, or valid key characters ending with `/` (added when missing). */
export const normaliseKeyPrefix = (prefix: string): string => {
  const trimmed = prefix.replace(/^\/+/, '');
  if (trimmed === '') return '';
  const withSlash = trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
  checkObjectKey(withSlash.slice(0, -1));
  return withSlash;
};
