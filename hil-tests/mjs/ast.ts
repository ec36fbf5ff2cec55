// The syntax tree of the mJS subset the parser accepts (mongoose-os.md §5.3). Every node
// carries its source line, which errors report.

export type Expr =
  | { k: 'num'; line: number; v: number }
  | { k: 'str'; line: number; v: string }
  | { k: 'lit'; line: number; v: boolean | null | undefined }
  | { k: 'id'; line: number; name: string }
  | { k: 'this'; line: number }
  | { k: 'array'; line: number; items: Expr[] }
  | { k: 'object'; line: number; props: Array<[string, Expr]> }
  | FunctionNode
  | { k: 'unary'; line: number; op: string; arg: Expr }
  | { k: 'update'; line: number; op: '++' | '--'; prefix: boolean; target: Expr }
  | { k: 'binary'; line: number; op: string; left: Expr; right: Expr }
  | { k: 'logical'; line: number; op: '&&' | '||'; left: Expr; right: Expr }
  | { k: 'assign'; line: number; op: string; target: Expr; value: Expr }
  | { k: 'cond'; line: number; test: Expr; then: Expr; else: Expr }
  | { k: 'call'; line: number; callee: Expr; args: Expr[] }
  | { k: 'member'; line: number; obj: Expr; prop: string }
  | { k: 'index'; line: number; obj: Expr; key: Expr }
  | { k: 'seq'; line: number; items: Expr[] };

export interface FunctionNode {
  k: 'function';
  line: number;
  name: string | undefined;
  params: string[];
  body: Stmt[];
}

export type Stmt =
  | { k: 'let'; line: number; decls: Array<[string, Expr | undefined]> }
  | { k: 'expr'; line: number; expr: Expr }
  | { k: 'block'; line: number; body: Stmt[] }
  | { k: 'if'; line: number; test: Expr; then: Stmt; else: Stmt | undefined }
  | { k: 'for'; line: number; init: Stmt | undefined; test: Expr | undefined; update: Expr | undefined; body: Stmt }
  | { k: 'forin'; line: number; name: string; isLet: boolean; obj: Expr; body: Stmt }
  | { k: 'while'; line: number; test: Expr; body: Stmt }
  | { k: 'break'; line: number }
  | { k: 'continue'; line: number }
  | { k: 'return'; line: number; arg: Expr | undefined }
  | { k: 'fundecl'; line: number; fn: FunctionNode }
  | { k: 'empty'; line: number };

export interface Program {
  body: Stmt[];
}
