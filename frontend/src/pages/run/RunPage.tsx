// Placeholder until the page is written.
export default function RunPage() {
  return <div>RunPage</div>;
}
