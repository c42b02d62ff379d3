// `node:fs`, `node:os` and the like in the browser bundles. The simulator never calls these
// (its disk is SimDisk); they are here only because shared modules import them.
function unavailable(name: string): never {
  throw new Error(`${name} is not available in the browser`);
}

export const constants = { O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128, O_TRUNC: 512, O_APPEND: 1024 };
export const writeSync = (): never => unavailable('fs.writeSync');
export const openSync = (): never => unavailable('fs.openSync');
export const readSync = (): never => unavailable('fs.readSync');
export const fstatSync = (): never => unavailable('fs.fstatSync');
export const closeSync = (): never => unavailable('fs.closeSync');
export const writeFileSync = (): never => unavailable('fs.writeFileSync');
export const mkdirSync = (): never => unavailable('fs.mkdirSync');
export const mkdtempSync = (): never => unavailable('fs.mkdtempSync');
export const rmSync = (): never => unavailable('fs.rmSync');
export const readFileSync = (): never => unavailable('fs.readFileSync');
export const existsSync = (): boolean => false;
export const open = (): never => unavailable('fs.open');
export const readFile = (): never => unavailable('fs.readFile');
export const readdir = (): never => unavailable('fs.readdir');
export const rename = (): never => unavailable('fs.rename');
export const rm = (): never => unavailable('fs.rm');
export const mkdir = (): never => unavailable('fs.mkdir');
export const tmpdir = (): string => '/tmp';
export const availableParallelism = (): number => 1;
export const hostname = (): string => 'browser';
export default {};
