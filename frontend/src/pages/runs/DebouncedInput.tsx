// A text input that reports its value after typing pauses, and follows its value when it
// changes from outside (back/forward through the URL).
import { useEffect, useRef, useState } from "react";
import { Input, type InputProps } from "antd";

type Props = Omit<InputProps, "value" | "onChange"> & {
  value: string | undefined;
  onCommit: (value: string) => void;
  delay?: number;
};

export function DebouncedInput({ value, onCommit, delay = 300, ...rest }: Props) {
  const [draft, setDraft] = useState(value ?? "");
  const [seen, setSeen] = useState(value);
  if (seen !== value) {
    setSeen(value);
    if (draft.trim() !== (value ?? "")) setDraft(value ?? "");
  }
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  const commitNow = (v: string) => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    onCommit(v);
  };
  return (
    <Input
      {...rest}
      value={draft}
      onChange={(e) => {
        const v = e.target.value;
        setDraft(v);
        if (timer.current) clearTimeout(timer.current);
        // An emptied box (the clear icon) applies at once.
        if (v === "") commitNow(v);
        else timer.current = setTimeout(() => commitNow(v), delay);
      }}
      onPressEnter={() => commitNow(draft)}
    />
  );
}
