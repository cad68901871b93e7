// Shows the live stream's real state (from the EventSource), never a fixed "healthy".
import { Badge, Tooltip } from "antd";
import { useLive } from "../live/LiveProvider";

const LABELS = {
  connecting: { status: "processing", text: "Connecting" },
  live: { status: "success", text: "Live" },
  reconnecting: { status: "warning", text: "Reconnecting" },
  offline: { status: "error", text: "Offline" },
} as const;

export function ConnectionIndicator() {
  const { state, received, position } = useLive();
  const label = LABELS[state];
  return (
    <Tooltip title={`Live updates: ${label.text.toLowerCase()}; ${received} events received${position ? `, at position ${position}` : ""}`}>
      <span data-testid="connection" data-state={state}>
        <Badge status={label.status} text={label.text} />
      </span>
    </Tooltip>
  );
}
