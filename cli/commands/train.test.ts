import { describeCrashAndResume } from './train-crash-scenario.js';

// The crash-and-resume fault test on the embedded defaults (in-process bus, SQLite log, local folder).
describeCrashAndResume('embedded defaults');
