// The public face of the command line.
export { main, buildProgram, type MainIo } from './main.js';
export { SETTINGS, resolveSettings, type SettingDefinition } from './settings.js';
