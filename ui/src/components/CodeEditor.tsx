import { javascript } from "@codemirror/lang-javascript";
import { ensureSyntaxTree } from "@codemirror/language";
import { type Diagnostic, linter, lintGutter } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { basicSetup, EditorView } from "codemirror";
import { useEffect, useRef } from "react";

/** Warns where the code does not parse. Only a warning: as on Auth0, such code still
 * builds and deploys, and fails when it runs. */
const syntaxWarnings = linter((view) => {
  const { state } = view;
  const tree = ensureSyntaxTree(state, state.doc.length, 200);
  const found: Diagnostic[] = [];
  tree?.iterate({
    enter: (node) => {
      if (!node.type.isError || found.length >= 20) return;
      // An error node can be empty (a missing "}" at the end): mark a character next to it.
      const end = state.doc.length;
      let from = Math.min(node.from, end);
      let to = Math.min(node.to, end);
      if (from === to) [from, to] = to < end ? [to, to + 1] : [Math.max(0, end - 1), end];
      found.push({
        from,
        to,
        severity: "warning",
        message: "Syntax error: this code will fail when it runs.",
      });
    },
  });
  return found;
});

interface Props {
  value: string;
  onChange?: (value: string) => void;
  onSave?: () => void;
  label: string;
  readOnly?: boolean;
  minHeight?: string;
}

/** CodeMirror 6 with JavaScript highlighting; the document is owned by the editor and
 * replaced only when `value` changes from outside (a reload, a rollback). */
export function CodeEditor({ value, onChange, onSave, label, readOnly, minHeight }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const callbacks = useRef({ onChange, onSave });
  callbacks.current = { onChange, onSave };

  useEffect(() => {
    const saveKey = keymap.of([
      {
        key: "Mod-s",
        preventDefault: true,
        run: () => {
          callbacks.current.onSave?.();
          return true;
        },
      },
    ]);
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          saveKey,
          basicSetup,
          javascript(),
          readOnly ? [] : [syntaxWarnings, lintGutter()],
          EditorView.lineWrapping,
          EditorState.readOnly.of(Boolean(readOnly)),
          EditorView.contentAttributes.of({ "aria-label": label }),
          EditorView.theme({ "&": { minHeight: minHeight ?? "18rem" }, ".cm-scroller": { minHeight: minHeight ?? "18rem" } }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) callbacks.current.onChange?.(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = editor;
    return () => editor.destroy();
    // The editor is created once; `value` updates are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [readOnly]);

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== value) {
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
    }
  }, [value]);

  return <div className="code-editor" ref={host} data-testid="code-editor" />;
}
