import { describe, expect, it } from "vitest";
import { messageWithoutException } from "./errorText";

describe("messageWithoutException", () => {
  it("drops the exception's name when the message starts with it", () => {
    expect(messageWithoutException('RuleException:\nCalledProcessError in file "Snakefile", line 60:\nexit 3', "RuleException")).toBe(
      'CalledProcessError in file "Snakefile", line 60:\nexit 3',
    );
    expect(messageWithoutException("WorkflowError:\nAt least one job did not complete successfully.", "WorkflowError")).toBe(
      "At least one job did not complete successfully.",
    );
    expect(messageWithoutException("KeyError: 'sample'", "KeyError")).toBe("'sample'");
    expect(messageWithoutException("\n  RuleException:\r\n  indented", "RuleException")).toBe("  indented");
  });
  it("keeps any other message as it is", () => {
    expect(messageWithoutException("RuleExceptionX: no", "RuleException")).toBe("RuleExceptionX: no");
    expect(messageWithoutException("Error in RuleException: no", "RuleException")).toBe("Error in RuleException: no");
    expect(messageWithoutException("RuleException without colon", "RuleException")).toBe("RuleException without colon");
    expect(messageWithoutException("text", null)).toBe("text");
    expect(messageWithoutException("RuleException:", "")).toBe("RuleException:");
    expect(messageWithoutException(null, "RuleException")).toBe("");
  });
  it("leaves nothing when the message is only the name", () => {
    expect(messageWithoutException("RuleException:", "RuleException")).toBe("");
    expect(messageWithoutException("RuleException:\n", "RuleException")).toBe("");
  });
});
